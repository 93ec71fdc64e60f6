"""An exported mCLIP on disk: the folder ``mstr train mclip`` writes and ``mstr bank build``,
``mstr bank extend --mclip`` and ``mstr eval mclip`` read.

```
mclip/
  mclip.json          format, format_version, config (the architecture), langs, training record
  mclip.safetensors   the weights
```
``mclip.json`` is read through :func:`mstr.bundle.read_config`. Exports written before it had a
format (no ``format`` key, ``"kind": "mclip"``) still load.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from mstr.bundle import read_config
from mstr.errors import UserError
from mstr.models.mclip import MClip, MClipConfig

__all__ = ["FORMAT", "FORMAT_VERSION", "CONFIG_FILE", "WEIGHTS_FILE", "save_mclip", "read_mclip_config",
           "load_mclip"]

FORMAT = "mstr-mclip"
FORMAT_VERSION = 1
CONFIG_FILE = "mclip.json"
WEIGHTS_FILE = "mclip.safetensors"
_CONTENTS = f"{CONFIG_FILE}, {WEIGHTS_FILE}; made by 'mstr train mclip'"


def save_mclip(model: MClip, out: Path, langs: Sequence[str], extra: dict[str, Any] | None = None) -> Path:
    """Write ``mclip.safetensors`` + ``mclip.json`` (format, config, languages, ``extra``) to ``out``."""
    from mstr.weights import save_weights

    out.mkdir(parents=True, exist_ok=True)
    save_weights(model, out / WEIGHTS_FILE)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": "mclip", "config": model.cfg.to_dict(),
            "langs": list(langs), **(extra or {})}
    (out / CONFIG_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return out


def _legacy_config(folder: Path) -> dict[str, Any] | None:
    """The ``mclip.json`` of an export written before it had a format (``"kind": "mclip"``), else None."""
    try:
        meta = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if isinstance(meta, dict) and "format" not in meta and meta.get("kind") == "mclip":
        return meta
    return None


def read_mclip_config(folder: str | Path) -> dict[str, Any]:
    """The checked ``mclip.json`` of an mCLIP export; a :class:`UserError` naming the file otherwise."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file():
        raise UserError(f"{folder} has no {CONFIG_FILE}: give the --out folder of 'mstr train mclip'")
    try:
        return read_config(folder, fmt=FORMAT, version=FORMAT_VERSION, what="mCLIP export", contents=_CONTENTS,
                           file=CONFIG_FILE)
    except UserError:
        legacy = _legacy_config(folder)
        if legacy is None:
            raise
        return legacy


def load_mclip(folder: str | Path) -> tuple[MClip, dict[str, Any]]:
    """Load an exported mCLIP (safetensors + JSON) in eval mode, with its ``mclip.json``."""
    from mstr.weights import load_weights

    folder = Path(folder)
    meta = read_mclip_config(folder)
    model = MClip(MClipConfig.from_dict(meta["config"]))
    load_weights(model, folder / WEIGHTS_FILE)
    return model.eval(), meta

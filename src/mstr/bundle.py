"""Self-describing model bundles: one folder with config, weights, bank and model card.

```
bundle/
  config.json          format, languages, charset fingerprint, image size, architectures,
                       bank fingerprint, versions
  bank/                bank.safetensors + bank.json (the frozen prototypes)
  spotter.safetensors
  refiner.safetensors  (optional)
  MODEL_CARD.md        data, compute, measured results and the commands that measured them
```
Loading checks every file, the bank's fingerprint against the one the Spotter was trained with,
and that the weights fit the architecture; weights are safetensors only.
"""
from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any, Sequence

import torch

from mstr import __version__
from mstr.bank import PAD_ID, Bank
from mstr.errors import UserError
from mstr.refine_policy import DEFAULT_REFINE_MODE, DEFAULT_REFINE_POLICY, DEFAULT_REFINE_RATIO
from mstr.models.refiner import Refiner, RefinerConfig
from mstr.models.spotter import Spotter, SpotterConfig
from mstr.weights import load_weights, save_weights

__all__ = ["FORMAT", "save_bundle", "load_bundle", "charset_fingerprint"]

FORMAT = "mstr-bundle"
FORMAT_VERSION = 1


def charset_fingerprint(langs: Sequence[str]) -> str:
    """sha256 of the ordered charsets of ``langs`` (what the labels could contain)."""
    from mstr.charsets import load_charset

    h = hashlib.sha256()
    for lang in langs:
        cs = load_charset(lang)
        h.update(json.dumps([lang, cs.script, list(cs.chars())], ensure_ascii=True).encode())
    return h.hexdigest()


def save_bundle(folder: str | Path, *, spotter: Spotter, bank: Bank, refiner: Refiner | None = None,
                name: str = "mstr", extra: dict[str, Any] | None = None, card: str | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    langs = bank.langs()
    bank.save(folder / "bank")
    save_weights(spotter, folder / "spotter.safetensors")
    if refiner is not None:
        save_weights(refiner, folder / "refiner.safetensors")
    elif (folder / "refiner.safetensors").exists():
        (folder / "refiner.safetensors").unlink()
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "langs": langs,
        "charset_fingerprint": charset_fingerprint(langs), "bank_fingerprint": bank.fingerprint(),
        "image_size": list(spotter.cfg.image_size), "spotter": spotter.cfg.to_dict(),
        "refiner": refiner.cfg.to_dict() if refiner is not None else None,
        "versions": {"mstr": __version__, "torch": torch.__version__, "python": platform.python_version()},
        **(extra or {}),
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if card is not None:
        (folder / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    return folder


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not folder.is_dir():
        raise UserError(f"model bundle {folder} not found (a bundle is a folder with config.json, bank/, "
                        "spotter.safetensors)")
    if not path.is_file():
        raise UserError(f"{folder} is not a model bundle: config.json is missing")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc})") from None
    if cfg.get("format") != FORMAT or cfg.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: not an {FORMAT} v{FORMAT_VERSION} config (format={cfg.get('format')!r}, "
                        f"version={cfg.get('format_version')!r})")
    return cfg


def load_bundle(folder: str | Path, *, refiner: bool = True, device: str = "cpu", bf16: bool = False,
                refine_policy: str = DEFAULT_REFINE_POLICY, refine_mode: str = DEFAULT_REFINE_MODE,
                refine_below: float | None = None, refine_ratio: float | None = DEFAULT_REFINE_RATIO):
    """Load a bundle into a :class:`~mstr.recognizer.Recognizer` (options as for it)."""
    from mstr.recognizer import Recognizer

    folder = Path(folder)
    cfg = read_config(folder)
    bank = Bank.load(folder / "bank", expected_fingerprint=cfg.get("bank_fingerprint"))
    try:
        s_cfg = SpotterConfig.from_dict(cfg["spotter"])
        r_cfg = RefinerConfig.from_dict(cfg["refiner"]) if cfg.get("refiner") else None
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{folder / 'config.json'}: malformed architecture section ({exc})") from None
    if r_cfg is not None and r_cfg.topk > s_cfg.topk:
        raise UserError(f"{folder / 'config.json'}: the Refiner reads the top-{r_cfg.topk} hypotheses but the "
                        f"Spotter gives {s_cfg.topk}; the bundle is inconsistent (re-export it from its training run)")
    spotter = Spotter(s_cfg, bank.vectors, PAD_ID)
    load_weights(spotter, folder / "spotter.safetensors")
    ref = None
    if refiner and r_cfg is not None:
        ref = Refiner(r_cfg, bank.vectors, PAD_ID)
        load_weights(ref, folder / "refiner.safetensors")
    return Recognizer(spotter, bank, ref, config=cfg, name=cfg.get("name", folder.name), device=device, bf16=bf16,
                      refine_policy=refine_policy, refine_mode=refine_mode, refine_below=refine_below,
                      refine_ratio=refine_ratio)

"""What an ONNX export folder holds (``mstr export onnx``), for the exporter and the runtime alike::

    DIR/
      onnx.json                 format, graphs with their inputs/outputs, opset, Refiner sizes,
                                versions, and the check against torch made at export
      config.json               the bundle's config (copied)
      bank/                     the bundle's bank (copied: token table + vectors + fingerprint)
      MODEL_CARD.md             (copied when the bundle has one)
      spotter.onnx              images → logits + multi-scale features
      refiner_memory.onnx       Spotter top-K + features → per-layer cross-attention keys/values
      refiner_step.onnx         one greedy Refiner step with a key/value cache
      *.int8.onnx               with --int8: the same graphs, dynamically quantised (onnxruntime)

The graphs are described in :mod:`mstr.onnx.graphs`. Reading a folder (:func:`read_export`) goes
through :func:`mstr.bundle.read_config`, as for every folder format on disk. Imports no torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mstr.bundle import FORMAT as BUNDLE_FORMAT
from mstr.bundle import FORMAT_VERSION as BUNDLE_FORMAT_VERSION
from mstr.bundle import read_config
from mstr.errors import UserError

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "FILES", "int8_file", "find_export", "read_export"]

FORMAT = "mstr-onnx"
FORMAT_VERSION = 1
MANIFEST = "onnx.json"
#: graph name → file name (float32); :func:`int8_file` names the quantised one
FILES = {"spotter": "spotter.onnx", "refiner_memory": "refiner_memory.onnx", "refiner_step": "refiner_step.onnx"}
CONTENTS = f"{MANIFEST}, config.json, bank/, {', '.join(FILES.values())}; made by `mstr export onnx`"


def int8_file(name: str) -> str:
    """The file of a graph's dynamically quantised copy (``spotter.onnx`` → ``spotter.int8.onnx``)."""
    return name.replace(".onnx", ".int8.onnx")


def find_export(path: str | Path) -> Path:
    """The export folder for ``path``: ``path`` itself (it holds ``onnx.json``) or ``path/onnx``."""
    path = Path(path)
    for folder in (path, path / "onnx"):
        if (folder / MANIFEST).is_file():
            return folder
    if (path / "config.json").is_file():
        raise UserError(f"{path} is a model bundle, not an ONNX export: make one with "
                        f"`mstr export onnx --bundle {path} --out DIR` and load DIR with backend='onnx'")
    raise UserError(f"{path} is not an ONNX export ({MANIFEST} is missing); make one with "
                    "`mstr export onnx --bundle BUNDLE --out DIR`")


def read_export(folder: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(manifest, config)`` of an export folder (:func:`find_export` found it): ``onnx.json`` and the
    bundle's ``config.json``, each checked by :func:`mstr.bundle.read_config` (a UserError naming the
    file when missing, unreadable or of another format)."""
    manifest = read_config(folder, fmt=FORMAT, version=FORMAT_VERSION, what="ONNX export", contents=CONTENTS,
                           file=MANIFEST, hints={BUNDLE_FORMAT: " (a model bundle: export it with `mstr export onnx`)"})
    config = read_config(folder, fmt=BUNDLE_FORMAT, version=BUNDLE_FORMAT_VERSION, what="ONNX export",
                         contents=CONTENTS)
    return manifest, config

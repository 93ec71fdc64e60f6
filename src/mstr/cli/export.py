"""``mstr export onnx``: export a model bundle to ONNX graphs for onnxruntime."""
from __future__ import annotations

import argparse

from mstr.cli.options import add_bundle, add_command_group, add_out

_EPILOG = """\
The output folder is self-describing: onnx.json (graphs, inputs/outputs, opset, versions and the
check against torch made at export), the bundle's config.json and bank/, and the graphs
  spotter.onnx          images B,3,32,128 in [-1,1] -> logits B,L,N + feature maps f4, f8, f16
  refiner_memory.onnx   Spotter top-K + maps -> the Refiner's cross-attention keys/values
  refiner_step.onnx     one greedy Refiner step with a key/value cache (the host runs the loop)
  *.int8.onnx           with --int8: MatMul/Gemm weights quantised to int8 (onnxruntime dynamic
                        quantisation); convolutions and attention stay float32
The batch axis is dynamic. Every graph is run once by onnxruntime and compared with torch before
onnx.json is written. Read with the export:

  mstr export onnx --bundle runs/bundle --out runs/bundle-onnx --int8
  python -c "import mstr; r = mstr.load('runs/bundle-onnx', backend='onnx'); print(r.read(['w.png']))"
  mstr bench --bundle runs/bundle        # compares torch, bf16, ONNX and ONNX int8

Needs the packages onnx and onnxruntime (pip install 'mstr[onnx]'; installed by make setup)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    ss = add_command_group(sub, "export", dest="export_command", metavar="FORMAT", help="export a model bundle (ONNX)",
                           description="Export a model bundle to other runtimes.")
    o = ss.add_parser("onnx", help="Spotter (+ Refiner) as ONNX graphs for onnxruntime",
                      description="Export a bundle's Spotter and Refiner to ONNX (TorchScript exporter, "
                                  "dynamic batch axis), optionally with int8 copies.",
                      epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bundle(o, "model bundle folder", required=True)
    add_out(o, "folder to write the graphs, onnx.json, config.json and bank/ into", required=True)
    o.add_argument("--int8", action="store_true",
                   help="also write dynamically quantised *.int8.onnx graphs (load with backend='onnx-int8')")
    o.add_argument("--opset", type=int, default=None, metavar="N",
                   help="ONNX opset version (default 17, at least 14)")
    o.add_argument("--no-refiner", action="store_true", help="export the Spotter only")
    o.set_defaults(func=_onnx)


def _onnx(args: argparse.Namespace) -> int:
    from mstr.onnx.export import DEFAULT_OPSET, export_onnx

    manifest = export_onnx(args.bundle, args.out, opset=args.opset or DEFAULT_OPSET, int8=args.int8,
                           refiner=not args.no_refiner)
    for name, info in manifest["graphs"].items():
        line = f"{args.out / info['file']}\t{info['bytes'] / 1e6:.2f} MB"
        if info.get("int8"):
            line += f"\t{info['int8']} {info['int8_bytes'] / 1e6:.2f} MB ({info['int8_nodes']} nodes int8)"
        print(line)
    worst = max(manifest["check"].values(), default=0.0)
    print(f"wrote {args.out / 'onnx.json'}: opset {manifest['opset']}, "
          f"{'Spotter + Refiner' if manifest['refiner'] else 'Spotter only'}, "
          f"max |torch - onnxruntime| = {worst:.2g}")
    return 0

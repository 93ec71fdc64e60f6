"""``mstr bench``: speed of a model bundle on this machine (markdown table, ``--json``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mstr.cli.options import add_bundle, add_max_samples, add_workers, load_samples
from mstr.errors import UserError
from mstr.reading.refine_policy import add_refine_arguments

_EPILOG = """\
Prints markdown: the machine (CPU model and flags, threads, versions, load average at start),
parameters and FLOPs per word, then for each configuration the batch-1 latency (median and p90 ms)
and the throughput at --batch (words/s), from a preprocessed tensor to Predictions:
  spotter torch fp32 | fp32 channels-last | bf16 (autocast) | bf16 channels-last
  spotter onnx fp32 | int8                 (onnxruntime; the bundle is exported to a temp folder,
                                            or pass --onnx DIR from 'mstr export onnx --int8')
  spotter+refiner torch fp32 | bf16 | bf16 channels-last | onnx fp32 | int8
                                           (refining as --refine-policy / --refine-mode / --refine-below
                                            say; with a parallel mode, the torch fp32 and bf16
                                            channels-last pipelines are also timed decoding greedily)
"agreement" = % of words read as the torch fp32 configuration of the same pipeline reads them;
then the Refiner's batch-1 latency against the number of decoding steps (label length + 1).
Inputs are random tensors (the Spotter's cost does not depend on them; the Refiner's grows with
the characters it reads). --lmdb / --manifest add real crops: decoding and preprocessing time,
read() throughput and exact-match, and batch-1 latency by label length; with --workers N the whole
pipeline read by N processes sharing the threads, with --tesseract Tesseract on the same crops and
every row as a multiple of Tesseract's words/s (the issue's "N x Tesseract" figure).

Close other work first: every figure is slower on a busy machine (see the load average).

  mstr bench --bundle runs/bundle --threads 2
  mstr bench --bundle runs/bundle --lmdb runs/data/words6_test --max-samples 512 --json bench.json
  mstr bench --threads 2 --lmdb runs/data/words6_test --max-samples 1200 --workers 2 --tesseract --no-onnx"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="latency / throughput / FLOPs of a bundle (torch, bf16, ONNX, int8)",
                       description="Measure the speed of a model bundle on this machine.", epilog=_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bundle(p)
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch and onnxruntime (default: torch's, i.e. OMP_NUM_THREADS or all cores)")
    p.add_argument("--batch", type=int, default=64, help="batch size for throughput (default 64)")
    p.add_argument("--n", type=int, default=640, metavar="N", help="words per throughput measurement (default 640)")
    p.add_argument("--repeats", type=int, default=30, help="batch-1 calls per latency measurement (default 30)")
    p.add_argument("--onnx", type=Path, default=None, metavar="DIR",
                   help="an existing 'mstr export onnx --int8' folder (default: export to a temporary folder)")
    p.add_argument("--no-onnx", action="store_true", help="skip the onnxruntime configurations")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--lmdb", type=Path, default=None, metavar="DIR",
                     help="also time real crops from an LMDB (or a root of <lang>/<split>_lmdb folders)")
    src.add_argument("--manifest", type=Path, default=None, metavar="M", help="… or from a JSON-lines manifest")
    p.add_argument("--root", type=Path, default=None, metavar="R", help="image root of --manifest")
    add_max_samples(p, "real crops to use, evenly spaced (default 512)", default=512)
    add_workers(p, "with real crops: also time the whole pipeline read by N processes sharing --threads "
                   "(float32 and bf16; 'mstr.load(workers=N)')", default=0)
    p.add_argument("--tesseract", action="store_true",
                   help="with real crops: also time Tesseract on them (--threads processes, told each crop's "
                        "language) and give every row as a multiple of its words/s")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the report as JSON")
    add_refine_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from mstr.bench import format_markdown, run_bench

    samples = None
    if args.lmdb is not None or args.manifest is not None or args.root is not None:
        samples = load_samples(args, max_samples=args.max_samples, purpose="time").samples
    if args.onnx is not None and args.no_onnx:
        raise UserError("--onnx and --no-onnx contradict each other")

    def log(msg: str) -> None:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)

    report = run_bench(args.bundle if args.bundle is not None else _default_bundle(), threads=args.threads,
                       batch=args.batch, n=args.n, repeats=args.repeats, onnx=not args.no_onnx, onnx_dir=args.onnx,
                       samples=samples, log=log,
                       refine={"refine_policy": args.refine_policy, "refine_mode": args.refine_mode,
                               "refine_below": args.refine_below, "refine_ratio": args.refine_ratio},
                       workers=args.workers, tesseract=args.tesseract)
    print(format_markdown(report), end="")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    return 0


def _default_bundle() -> Path:
    from mstr.api import default_bundle_path

    path = default_bundle_path()
    if not (path / "config.json").is_file():
        raise UserError("no default model is shipped with this version of mstr yet: pass --bundle")
    return path

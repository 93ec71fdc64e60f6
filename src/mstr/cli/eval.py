"""``mstr eval``: measure a model on held-out data.

* ``mstr eval --bundle B (--manifest M --root R | --lmdb DIR) …`` — word recognition of a model
  bundle (WRR, CRR, 1−NED, confidence, label length, script-ID per dataset × language, Combined and
  Macro rows; :mod:`mstr.eval.words`), with ``--out`` a JSON report, the predictions and an HTML
  failure gallery.
* ``mstr eval mclip …`` — Stage 1 retrieval of character crops (:mod:`mstr.eval.mclip_eval`).

Each stage is one entry of :data:`EVAL_STAGES` — ``name → (help, add_arguments, run)`` — so a
new stage evaluation is one function pair and one line here. Word evaluation needs no stage word:
the stage sub-commands are optional.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from mstr.cli.options import (add_bundle, add_data, add_device, add_json, add_max_samples, add_out, add_reading,
                              add_runtime, check_out_folder, load_reader, load_samples, torch_device)
from mstr.reading.decode_options import decoding_command_parts
from mstr.errors import UserError
from mstr.reading.refine_policy import refine_command_parts


# --------------------------------------------------------------------------------------------
# mstr eval mclip


def _add_mclip(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mclip", required=True, type=Path,
                   help="mCLIP folder (mclip.json + mclip.safetensors, the --out of 'mstr train mclip')")
    p.add_argument("--bank", required=True, type=Path, help="bank folder (bank.json + bank.safetensors)")
    p.add_argument("--data", required=True, type=Path,
                   help="data root holding LMDB/<lang>/test_lmdb (from 'mstr synth chars --fonts heldout')")
    p.add_argument("--langs", default=None,
                   help="languages, e.g. en,hi or 6lang (default: the bank's languages that have the split)")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="test = held-out fonts (default); val = training fonts, an optimistic check")
    p.add_argument("--max-per-lang", type=int, default=None, metavar="N",
                   help="evaluate at most N evenly spaced crops per language")
    p.add_argument("--twins", type=Path, default=None, metavar="JSON",
                   help="cross-script glyph twins left out of the net leakage (default: the shipped "
                        "configs/homoglyph_twins.json, made by tools/homoglyph_floor.py)")
    p.add_argument("--batch-size", type=int, default=512, help="crops per batch (default 512)")
    p.add_argument("--workers", type=int, default=0, help="image-decoding worker processes (default 0)")
    add_device(p, "torch device: auto (CUDA if available), cpu, cuda, cuda:1 …", default="auto")
    add_out(p, "folder for report.json and report.md")
    add_json(p, "print the report as JSON instead of markdown")


def _command(args: argparse.Namespace, langs: list[str]) -> str:
    import shlex

    parts = ["mstr", "eval", "mclip", "--mclip", str(args.mclip), "--bank", str(args.bank),
             "--data", str(args.data), "--langs", ",".join(langs), "--split", args.split]
    if args.max_per_lang is not None:
        parts += ["--max-per-lang", str(args.max_per_lang)]
    if args.twins is not None:
        parts += ["--twins", str(args.twins)]
    if args.out is not None:
        parts += ["--out", str(args.out)]
    return shlex.join(parts)


def _run_mclip(args: argparse.Namespace) -> int:
    from mstr.bank import Bank
    from mstr.eval.mclip_eval import evaluate_retrieval, format_retrieval, load_twins
    from mstr.eval.mclip_inputs import check_dims, pick_langs
    from mstr.eval.reports import json_text, write_report_files

    if not args.mclip.is_dir():
        raise UserError(f"mCLIP folder {args.mclip} does not exist; give the --out folder of "
                        "'mstr train mclip'")
    check_out_folder(args.out, " for report.json and report.md")
    twins = load_twins(args.twins)
    bank = Bank.load(args.bank)
    langs = pick_langs(bank, args.bank, args.data, args.langs, args.split,
                       note=lambda message: print(message, file=sys.stderr))

    from mstr.mclip_export import load_mclip

    model, _meta = load_mclip(args.mclip)
    check_dims(model, args.mclip, bank, args.bank)
    device = torch_device(args.device)
    model.to(device)
    report = evaluate_retrieval(model, bank, args.data, langs, split=args.split,
                                batch_size=args.batch_size, max_per_lang=args.max_per_lang,
                                workers=args.workers, device=device, twins=twins)
    report["mclip"] = str(args.mclip)
    report["bank_dir"] = str(args.bank)
    report["command"] = _command(args, langs)
    text = format_retrieval(report)
    print(json_text(report).rstrip("\n") if args.json else text)
    if args.out is not None:
        write_report_files(args.out, {"report.json": json_text(report),
                                      "report.md": text + f"\nCommand: `{report['command']}`\n"},
                           what="the report")
        print(f"wrote {args.out / 'report.json'} and {args.out / 'report.md'}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------------------------
# mstr eval --bundle … (word recognition)

_EVAL_DESCRIPTION = """\
Evaluate word recognition of a model bundle on a manifest or on LMDBs, and print a markdown table;
or, with a STAGE word, evaluate one training stage (mstr eval mclip --help).

  mstr eval --bundle runs/bundle --manifest data/test.jsonl --root data/images --out runs/eval
  mstr eval --bundle runs/bundle --lmdb data/LMDB --langs hi,ta --out runs/eval
  mstr eval --bundle runs/bundle --lmdb data/english/CUTE80 --langs en --convention en-benchmark
"""

_EVAL_EPILOG = """\
Table: one row per dataset x language (dataset = the manifest's "dataset" field or the LMDB folder
name, e.g. test_lmdb), then "Combined" (all samples pooled, sample-weighted) and "Macro
(languages)" (the mean over languages of each language's metrics, a language pooled over its
datasets). Labels and predictions are normalised first (Unicode NFKD, whitespace removed); with
--convention en-benchmark they are also lower-cased and reduced to [0-9a-z]. ED = Levenshtein
distance in code points.
  # samples     words scored (unreadable images and skipped lines are reported, not scored)
  WRR           100 x exact matches / samples
  CRR           100 x max(0, 1 - sum(ED) / sum(len(gt)))            (Indic STR convention)
  1-NED         100 x mean(1 - ED / max(len(pred), len(gt)))         (ICDAR-2019 / PARSeq)
  Confidence    mean confidence of the predictions (0..1)
  Label length  mean label length in code points (after normalisation)
  Script-ID     100 x share of words whose predicted script is the script of their language

Unreadable images (corrupt, empty, zero-size, too large) and bad manifest lines (invalid JSON, a
path_rel escaping --root, a missing file) are listed on stderr and in report.json and skipped.
With --out DIR: DIR/report.json (table, settings, unreadable, skipped entries, command line),
DIR/predictions.jsonl (one JSON object per sample: id, source, dataset, lang, gt, pred,
confidence, script, ed, correct, ...) and DIR/gallery.html (the most confident failures per
language, images inlined)."""


def _add_words(p: argparse.ArgumentParser) -> None:
    add_bundle(p, "model bundle folder to evaluate (required without a STAGE)")
    add_data(p, manifest_help="JSON-lines manifest (id, path_rel, filename, gt_text, lang, dataset)",
             root_help="folder the manifest's path_rel values are relative to (with --manifest)",
             langs_help="only these languages, e.g. hi,ta or 6lang (with one language and an "
                        "LMDB without lang keys, its samples are taken to be that language)")
    add_reading(p, no_refiner_help="read with the Spotter alone (skip the Refiner)", hint_per_sample=True)
    p.add_argument("--convention", choices=("default", "en-benchmark"), default="default",
                   help="default: compare the normalised strings; en-benchmark: the English "
                        "benchmark convention (lower-case, [0-9a-z] only)")
    p.add_argument("--rotation", type=int, choices=(0, 90, 180, 270), default=0,
                   help="rotate every image by this many degrees counter-clockwise before "
                        "reading (orientation robustness; default 0)")
    add_runtime(p, workers_help="read with N processes on the CPU, each with a share of torch's threads (faster "
                                "on a few cores; the readings are the same; default 1)",
                device_help="torch device for the model: cpu (default), cuda, cuda:1, or auto")
    add_max_samples(p, "evaluate at most N samples, evenly spaced over the data")
    p.add_argument("--max-gallery", type=int, default=200, metavar="N",
                   help="failures shown in gallery.html (default 200)")
    add_out(p, "folder for report.json, predictions.jsonl and gallery.html")
    add_json(p, "print the JSON report instead of the markdown table")


def _words_command(args: argparse.Namespace) -> str:
    import shlex

    parts = ["mstr", "eval", "--bundle", str(args.bundle)]
    if args.manifest is not None:
        parts += ["--manifest", str(args.manifest), "--root", str(args.root)]
    else:
        parts += ["--lmdb", str(args.lmdb)]
    if args.langs:
        parts += ["--langs", args.langs]
    if args.no_refiner:
        parts.append("--no-refiner")
    if not args.no_refiner:
        parts += refine_command_parts(args)
    parts += decoding_command_parts(args)
    if args.backend != "torch":
        parts += ["--backend", args.backend]
    if args.convention != "default":
        parts += ["--convention", args.convention]
    if args.rotation:
        parts += ["--rotation", str(args.rotation)]
    if args.max_samples is not None:
        parts += ["--max-samples", str(args.max_samples)]
    if args.workers != 1:
        parts += ["--workers", str(args.workers)]
    if args.out is not None:
        parts += ["--out", str(args.out)]
    return shlex.join(parts)


def _check_words_args(args: argparse.Namespace) -> None:
    if args.bundle is None:
        raise UserError("give a model to evaluate and its data: 'mstr eval --bundle BUNDLE "
                        "--manifest M --root R' or 'mstr eval --bundle BUNDLE --lmdb DIR'; or a "
                        "stage, e.g. 'mstr eval mclip --help'")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.max_samples is not None and args.max_samples < 1:
        raise UserError(f"--max-samples must be at least 1, got {args.max_samples}")
    if args.lang and args.lang_hint:
        raise UserError("give either --lang (one hint for every sample) or --lang-hint (each sample's own), not both")
    check_out_folder(args.out, " for report.json, predictions.jsonl and gallery.html")


def _run_words(args: argparse.Namespace) -> int:
    from mstr.charsets import parse_langs
    from mstr.eval.metrics import format_table
    from mstr.eval.reports import json_text, json_lines, write_report_files
    from mstr.eval.words import evaluate
    from mstr.reading.parallel import close_reader

    _check_words_args(args)
    langs = parse_langs(args.langs) if args.langs else None
    samples = load_samples(args, max_samples=args.max_samples, purpose="evaluate", langs=langs)
    device = torch_device(args.device).type if args.device == "auto" else args.device
    recognizer = load_reader(args, device=device, workers=args.workers)
    try:
        if args.lang:
            recognizer.lang_mask(args.lang)
        result = evaluate(recognizer, samples, convention=args.convention, rotation=args.rotation,
                          batch_size=args.batch_size, progress=True,
                          hint="sample" if args.lang_hint else args.lang)
    finally:
        close_reader(recognizer)
    report = result.to_dict()
    report.update({"bundle": str(args.bundle), "refiner": not args.no_refiner,
                   "refine": None if args.no_refiner else {"policy": args.refine_policy, "mode": args.refine_mode,
                                                           "below": args.refine_below,
                                                           "ratio": args.refine_ratio},
                   "command": _words_command(args)})
    text = format_table(result.table)
    print(json_text(report).rstrip("\n") if args.json else text)
    for line in result.summary_lines():
        print(line, file=sys.stderr)
    if args.out is not None:
        from mstr.eval.gallery import write_gallery

        write_report_files(args.out, {"report.json": json_text(report),
                                      "predictions.jsonl": json_lines(r.to_dict() for r in result.records)})
        shown = write_gallery(result, args.out / "gallery.html", max_items=args.max_gallery)
        print(f"wrote {args.out / 'report.json'}, {args.out / 'predictions.jsonl'} and "
              f"{args.out / 'gallery.html'} ({shown} failures shown)", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------------------------
# registration

#: stage → (help, add its arguments, run it)
EVAL_STAGES: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                             Callable[[argparse.Namespace], int]]] = {
    "mclip": ("Stage 1: retrieve held-out character crops from the bank (top-1/top-5, "
              "cross-script leakage, confusions)", _add_mclip, _run_mclip),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model bundle on words (or a stage: mclip, …)",
                       description=_EVAL_DESCRIPTION, epilog=_EVAL_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_words(p)
    p.set_defaults(func=_run_words)
    ss = p.add_subparsers(dest="eval_stage", metavar="[STAGE]",
                          help="optional: evaluate one stage instead of a bundle")
    ss.required = False
    for stage, (help_text, add_arguments, run) in EVAL_STAGES.items():
        s = ss.add_parser(stage, help=help_text, description=help_text)
        add_arguments(s)
        s.set_defaults(func=run)

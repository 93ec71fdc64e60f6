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
from typing import Any, Callable

from mstr.reading.decode_options import add_decoding_arguments, decoding_command_parts, decoding_load_kwargs
from mstr.errors import UserError
from mstr.reading.refine_policy import add_refine_arguments, refine_command_parts


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
    p.add_argument("--batch-size", type=int, default=512, help="crops per batch (default 512)")
    p.add_argument("--workers", type=int, default=0, help="image-decoding worker processes (default 0)")
    p.add_argument("--device", default="auto", help="torch device: auto (CUDA if available), cpu, cuda, cuda:1 …")
    p.add_argument("--out", type=Path, default=None, help="folder for report.json and report.md")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of markdown")


def _device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise UserError(f"--device {name!r} is not a torch device ({exc}); use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name} asked for CUDA but torch sees no GPU; use --device cpu")
    return dev


def check_data_args(args: argparse.Namespace) -> None:
    """The data options of word evaluation (and of 'mstr compare'): --manifest with --root, or --lmdb."""
    if args.manifest is None and args.lmdb is None:
        raise UserError("give the data: --manifest M --root R, or --lmdb DIR")
    if args.manifest is not None and args.lmdb is not None:
        raise UserError("give either --manifest (with --root) or --lmdb, not both")
    if args.manifest is not None and args.root is None:
        raise UserError("--manifest needs --root, the folder its path_rel values are relative to")
    if args.root is not None and args.manifest is None:
        raise UserError("--root goes with --manifest; for LMDBs use --lmdb DIR alone")


def _command(args: argparse.Namespace, langs: list[str]) -> str:
    import shlex

    parts = ["mstr", "eval", "mclip", "--mclip", str(args.mclip), "--bank", str(args.bank),
             "--data", str(args.data), "--langs", ",".join(langs), "--split", args.split]
    if args.max_per_lang is not None:
        parts += ["--max-per-lang", str(args.max_per_lang)]
    if args.out is not None:
        parts += ["--out", str(args.out)]
    return shlex.join(parts)


def _run_mclip(args: argparse.Namespace) -> int:
    import json

    from mstr.bank import Bank
    from mstr.charsets import parse_langs
    from mstr.eval.mclip_eval import (evaluate_retrieval, format_retrieval, missing_split_error,
                                      split_path)

    if not args.mclip.is_dir():
        raise UserError(f"mCLIP folder {args.mclip} does not exist; give the --out folder of "
                        "'mstr train mclip'")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file; give a folder for report.json and report.md")
    bank = Bank.load(args.bank)
    if not args.data.is_dir():
        raise UserError(f"data folder {args.data} does not exist; render held-out character crops "
                        f"with 'mstr synth chars --langs {','.join(bank.langs())} --n 2000 "
                        f"--fonts heldout --out {args.data}'")

    def present(lang: str) -> bool:
        return (split_path(args.data, lang, args.split) / "data.mdb").is_file()

    if args.langs:
        langs = parse_langs(args.langs)
        absent = [lang for lang in langs if lang not in bank.langs()]
        if absent:
            raise UserError(f"language(s) {', '.join(absent)} not in the bank {args.bank} (it covers "
                            f"{', '.join(bank.langs()) or 'no language'}); drop them from --langs, "
                            "or build a bank with them ('mstr bank')")
        missing = [lang for lang in langs if not present(lang)]
        if missing:
            raise missing_split_error(args.data, missing, args.split)
    else:
        langs = [lang for lang in bank.langs() if present(lang)]
        if not langs:
            raise missing_split_error(args.data, bank.langs(), args.split)
        skipped = [lang for lang in bank.langs() if lang not in langs]
        if skipped:
            print(f"note: no {args.split}_lmdb for {', '.join(skipped)} under {args.data}/LMDB; "
                  f"evaluating {', '.join(langs)}", file=sys.stderr)

    from mstr.mclip_export import load_mclip

    model, _meta = load_mclip(args.mclip)
    if int(model.cfg.dim) != bank.dim:
        raise UserError(f"the mCLIP in {args.mclip} embeds in dimension {model.cfg.dim} but the bank "
                        f"{args.bank} has dimension {bank.dim}: use the bank built from this mCLIP")
    device = _device(args.device)
    model.to(device)
    report = evaluate_retrieval(model, bank, args.data, langs, split=args.split,
                                batch_size=args.batch_size, max_per_lang=args.max_per_lang,
                                workers=args.workers, device=device)
    report["mclip"] = str(args.mclip)
    report["bank_dir"] = str(args.bank)
    report["command"] = _command(args, langs)
    text = format_retrieval(report)
    print(json.dumps(report, ensure_ascii=False, indent=1) if args.json else text)
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n",
                                                  encoding="utf-8")
            (args.out / "report.md").write_text(text + f"\nCommand: `{report['command']}`\n",
                                                encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write the report to {args.out}: {exc}") from None
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
    p.add_argument("--bundle", type=Path, default=None,
                   help="model bundle folder to evaluate (required without a STAGE)")
    p.add_argument("--manifest", type=Path, default=None,
                   help="JSON-lines manifest (id, path_rel, filename, gt_text, lang, dataset)")
    p.add_argument("--root", type=Path, default=None,
                   help="folder the manifest's path_rel values are relative to (with --manifest)")
    p.add_argument("--lmdb", type=Path, default=None,
                   help="one LMDB folder, or a root with [LMDB/]<lang>/<split>_lmdb folders")
    p.add_argument("--langs", default=None,
                   help="only these languages, e.g. hi,ta or 6lang (with one language and an "
                        "LMDB without lang keys, its samples are taken to be that language)")
    p.add_argument("--no-refiner", action="store_true",
                   help="read with the Spotter alone (skip the Refiner)")
    add_refine_arguments(p)
    add_decoding_arguments(p, hint_per_sample=True)
    p.add_argument("--convention", choices=("default", "en-benchmark"), default="default",
                   help="default: compare the normalised strings; en-benchmark: the English "
                        "benchmark convention (lower-case, [0-9a-z] only)")
    p.add_argument("--rotation", type=int, choices=(0, 90, 180, 270), default=0,
                   help="rotate every image by this many degrees counter-clockwise before "
                        "reading (orientation robustness; default 0)")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="read with N processes on the CPU, each with a share of torch's threads (faster on a "
                        "few cores; the readings are the same; default 1)")
    p.add_argument("--device", default="cpu",
                   help="torch device for the model: cpu (default), cuda, cuda:1, or auto")
    p.add_argument("--backend", choices=("torch", "onnx", "onnx-int8"), default="torch",
                   help="torch (default), or onnxruntime on an 'mstr export onnx' folder given as --bundle")
    p.add_argument("--max-samples", type=int, default=None, metavar="N",
                   help="evaluate at most N samples, evenly spaced over the data")
    p.add_argument("--max-gallery", type=int, default=200, metavar="N",
                   help="failures shown in gallery.html (default 200)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for report.json, predictions.jsonl and gallery.html")
    p.add_argument("--json", action="store_true",
                   help="print the JSON report instead of the markdown table")


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
    check_data_args(args)
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.max_samples is not None and args.max_samples < 1:
        raise UserError(f"--max-samples must be at least 1, got {args.max_samples}")
    if args.lang and args.lang_hint:
        raise UserError("give either --lang (one hint for every sample) or --lang-hint (each sample's own), not both")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file; give a folder for report.json, "
                        "predictions.jsonl and gallery.html")


def _run_words(args: argparse.Namespace) -> int:
    import json

    from mstr.charsets import parse_langs
    from mstr.eval.metrics import format_table
    from mstr.eval.words import evaluate, limit_samples, samples_from_lmdb, samples_from_manifest

    _check_words_args(args)
    langs = parse_langs(args.langs) if args.langs else None
    if args.manifest is not None:
        samples = samples_from_manifest(args.manifest, args.root, langs=langs)
    else:
        samples = samples_from_lmdb(args.lmdb, langs)
    samples = limit_samples(samples, args.max_samples)
    if not samples.samples:
        detail = "; ".join(f"{reason}: {count}" for reason, count in
                           sorted(samples.problem_counts.items()))
        first = samples.problems[0] if samples.problems else None
        hint = ""
        if first is not None:
            where = f"{first['source']}:{first['line']}: " if "line" in first else ""
            hint = f" ({len(samples.problems)} entries skipped — {detail}; first: {where}" \
                   f"{first['message']})"
        wanted = f" for languages {', '.join(langs)}" if langs else ""
        raise UserError(f"no sample to evaluate in {samples.description}{wanted}{hint}")

    from mstr.api import load

    device = _device(args.device).type if args.device == "auto" else args.device
    recognizer = load(args.bundle, refiner=not args.no_refiner, device=device, refine_policy=args.refine_policy,
                      backend=args.backend, refine_mode=args.refine_mode, refine_below=args.refine_below,
                      refine_ratio=args.refine_ratio, workers=args.workers, **decoding_load_kwargs(args))
    try:
        if args.lang:
            recognizer.lang_mask(args.lang)
        result = evaluate(recognizer, samples, convention=args.convention, rotation=args.rotation,
                          batch_size=args.batch_size, progress=True,
                          hint="sample" if args.lang_hint else args.lang)
    finally:
        from mstr.reading.parallel import close_reader

        close_reader(recognizer)
    report = result.to_dict()
    report.update({"bundle": str(args.bundle), "refiner": not args.no_refiner,
                   "refine": None if args.no_refiner else {"policy": args.refine_policy, "mode": args.refine_mode,
                                                           "below": args.refine_below,
                                                           "ratio": args.refine_ratio},
                   "command": _words_command(args)})
    text = format_table(result.table)
    print(json.dumps(report, ensure_ascii=False, indent=1) if args.json else text)
    for line in result.summary_lines():
        print(line, file=sys.stderr)
    if args.out is not None:
        _write_words_outputs(args.out, result, report, args.max_gallery)
    return 0


def _write_words_outputs(out: Path, result: Any, report: dict[str, Any], max_gallery: int) -> None:
    import json

    from mstr.eval.gallery import write_gallery

    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n",
                                         encoding="utf-8")
        with open(out / "predictions.jsonl", "w", encoding="utf-8", newline="\n") as handle:
            for record in result.records:
                handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
    except OSError as exc:
        raise UserError(f"cannot write the results to {out}: {exc}") from None
    shown = write_gallery(result, out / "gallery.html", max_items=max_gallery)
    print(f"wrote {out / 'report.json'}, {out / 'predictions.jsonl'} and {out / 'gallery.html'} "
          f"({shown} failures shown)", file=sys.stderr)


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

"""``mstr eval``: measure a stage on held-out data (``mstr eval mclip`` for Stage 1).

Each stage is one entry of :data:`EVAL_STAGES` — ``name → (help, add_arguments, run)`` — so a
new evaluation (words, the Spotter, the Refiner) is one function pair and one line here.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

from mstr.errors import UserError


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

    from mstr.train.mclip_task import load_mclip

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
# registration

#: stage → (help, add its arguments, run it)
EVAL_STAGES: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                             Callable[[argparse.Namespace], int]]] = {
    "mclip": ("Stage 1: retrieve held-out character crops from the bank (top-1/top-5, "
              "cross-script leakage, confusions)", _add_mclip, _run_mclip),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a stage (mclip, …) on held-out data",
                       description="Evaluate one stage and print markdown tables (and JSON with --out).")
    ss = p.add_subparsers(dest="eval_stage", metavar="STAGE")
    ss.required = True
    for stage, (help_text, add_arguments, run) in EVAL_STAGES.items():
        s = ss.add_parser(stage, help=help_text, description=help_text)
        add_arguments(s)
        s.set_defaults(func=run)

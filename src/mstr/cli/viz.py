"""``mstr viz``: pictures of what a model learned (``mstr viz bank``: a 2-D map of the bank)."""
from __future__ import annotations

import argparse
from pathlib import Path

from mstr.cli.options import add_command_group, add_out, int_pair
from mstr.errors import UserError

#: --size WIDTHxHEIGHT
_size = int_pair("x", "WIDTHxHEIGHT such as 1400x1000")


def add_parser(sub: argparse._SubParsersAction) -> None:
    ss = add_command_group(sub, "viz", dest="viz_command", help="draw pictures of models and banks (bank map, …)",
                           description="Draw pictures of what a model learned.")
    b = ss.add_parser("bank", help="2-D t-SNE map of the bank's character prototypes",
                      description="A 2-D map (t-SNE, or PCA) of the bank's character rows: one colour per "
                                  "script, marker by subtype (● letter, ○ diacritic, ■ digit, ▲ punctuation), "
                                  "with a legend of scripts and counts.")
    b.add_argument("--bank", required=True, type=Path, help="bank folder (bank.json + bank.safetensors)")
    add_out(b, "PNG file to write", required=True)
    b.add_argument("--labels", action="store_true",
                   help="draw each character beside its point (needs system fonts covering the scripts)")
    b.add_argument("--method", choices=("tsne", "pca"), default="tsne", help="projection (default tsne)")
    b.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    b.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default 30)")
    b.add_argument("--iters", type=int, default=1000, help="t-SNE iterations (default 1000)")
    b.add_argument("--size", type=_size, default=(1400, 1000), help="image WIDTHxHEIGHT (default 1400x1000)")
    b.add_argument("--font-dir", action="append", type=Path, default=None,
                   help="font folder for --labels (repeatable; default: the system font folders)")
    b.set_defaults(func=_run_bank)


def _run_bank(args: argparse.Namespace) -> int:
    from mstr.bank import Bank
    from mstr.viz import bank_map

    if args.out.suffix.lower() != ".png":
        raise UserError(f"--out {args.out} must be a .png file")
    if args.out.is_dir():
        raise UserError(f"--out {args.out} is a folder; give a .png file name")
    if args.iters < 1 or args.perplexity <= 0:
        raise UserError("--iters must be at least 1 and --perplexity positive")
    bank = Bank.load(args.bank)
    try:
        out = bank_map(bank, args.out, method=args.method, seed=args.seed, perplexity=args.perplexity,
                       n_iter=args.iters, labels=args.labels, size=args.size, font_dirs=args.font_dir)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write {args.out}: {exc}") from None
    print(f"wrote {out}")
    return 0

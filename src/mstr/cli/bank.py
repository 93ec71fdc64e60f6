"""``mstr bank``: build, extend and describe the frozen prototype bank."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bank", help="build / extend / describe the character prototype bank",
                       description="The bank holds one L2-normalised prototype per (script, character), "
                                   "shared Common entries (digits, punctuation) and the decoder's specials.")
    ss = p.add_subparsers(dest="bank_command", metavar="SUBCOMMAND")
    ss.required = True
    b = ss.add_parser("build", help="build a bank from a trained mCLIP",
                      description="Prototypes from the frozen text tower, optionally blended with image-tower "
                                  "centroids of training crops (--centroids ROOT --alpha A).")
    b.add_argument("--mclip", required=True, type=Path, help="--out folder of 'mstr train mclip'")
    b.add_argument("--langs", default="6lang", help="languages (codes or preset; default 6lang)")
    b.add_argument("--out", required=True, type=Path, help="folder to write bank.safetensors + bank.json")
    b.add_argument("--centroids", type=Path, default=None, help="character-crop root (mstr synth chars --out)")
    b.add_argument("--alpha", type=float, default=0.0, help="share of the image centroid in a prototype (0-1)")
    b.add_argument("--max-per-entry", type=int, default=64, help="crops per entry for centroids (default 64)")
    b.set_defaults(func=_build)
    e = ss.add_parser("extend", help="append a new language's characters to an existing bank",
                      description="Existing rows keep their vectors bit for bit; new entries are appended.")
    e.add_argument("--bank", required=True, type=Path)
    how = e.add_mutually_exclusive_group(required=True)
    how.add_argument("--mclip", type=Path, help="mCLIP whose text tower embeds the new entries")
    how.add_argument("--spread-seed", type=int, metavar="SEED",
                     help="no mCLIP: seeded random unit prototypes, cosine <= 0.3 to every other row")
    e.add_argument("--langs", required=True, help="language(s) to add, e.g. kn")
    e.add_argument("--out", required=True, type=Path)
    e.set_defaults(func=_extend)
    i = ss.add_parser("info", help="entries per script and the fingerprint")
    i.add_argument("bank", type=Path)
    i.set_defaults(func=_info)


def _build(args: argparse.Namespace) -> int:
    from mstr.bank import build_from_mclip
    from mstr.charsets import parse_langs
    from mstr.mclip_export import load_mclip

    model, meta = load_mclip(args.mclip)
    meta["source"] = str(args.mclip)
    bank = build_from_mclip(model, meta, parse_langs(args.langs), centroids_root=args.centroids,
                            alpha=args.alpha, max_per_entry=args.max_per_entry)
    bank.save(args.out)
    print(f"wrote {args.out}: {len(bank)} entries, dim {bank.dim}, fingerprint {bank.fingerprint()[:16]}")
    return 0


def _extend(args: argparse.Namespace) -> int:
    from mstr.bank import Bank, extend_from_mclip, extend_spread
    from mstr.charsets import parse_langs
    from mstr.errors import UserError

    bank = Bank.load(args.bank)
    langs = parse_langs(args.langs)
    present = [lang for lang in langs if lang in bank.langs()]
    if present:
        raise UserError(f"bank {args.bank} already holds {', '.join(present)} (it covers {', '.join(bank.langs())}); "
                        "give --langs only languages it lacks")
    if args.mclip is None:
        try:
            new = extend_spread(bank, langs, args.spread_seed)
        except ValueError as exc:
            raise UserError(f"bank {args.bank} (dimension {bank.dim}): {exc}; extend it with --mclip instead") from None
    else:
        from mstr.mclip_export import load_mclip

        new = extend_from_mclip(bank, load_mclip(args.mclip)[0], langs)
    new.save(args.out)
    print(f"wrote {args.out}: {len(bank)} → {len(new)} entries, fingerprint {new.fingerprint()[:16]}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from collections import Counter

    from mstr.bank import Bank

    bank = Bank.load(args.bank)
    print(f"{args.bank}: {len(bank)} entries, dim {bank.dim}, fingerprint {bank.fingerprint()}")
    print("languages: " + ", ".join(bank.langs()))
    for script, n in Counter(e.script for e in bank.entries).items():
        print(f"  {script}\t{n}")
    return 0

#!/usr/bin/env python
"""Measure how often each charset item appears in the synthetic text of a sampler profile.

Usage (from the repository root)::

    .venv/bin/python tools/vocab_coverage.py                       # 8 languages, v1 and v2
    .venv/bin/python tools/vocab_coverage.py hi ta -n 20000 --profiles v2

For each language and profile it draws ``n`` texts (seed 0) and prints, per charset item
(``configs/langs/<lang>.json``: letters, diacritics, digits, punctuation, common), the number of
texts holding it: the minimum over the script's own characters, the five least covered items,
the items never drawn, and how many of the virama conjuncts of the language's word lists were
drawn (with the count of the least drawn one). See :mod:`mstr.synth.clusters`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mstr.synth.clusters import coverage  # noqa: E402
from mstr.synth.vocab import PROFILES, TextSampler  # noqa: E402

DEFAULT_LANGS = ("en", "hi", "mr", "bn", "ta", "te", "kn", "ml")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("langs", nargs="*", default=list(DEFAULT_LANGS))
    ap.add_argument("-n", type=int, default=100_000, help="texts per language and profile")
    ap.add_argument("--profiles", nargs="+", default=["v1", "v2"], choices=sorted(PROFILES))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print(f"texts per row: {args.n}, seed {args.seed}")
    print("| lang | profile | min (script chars) | least covered | never | conjuncts drawn "
          "| least drawn conjunct |")
    print("|---|---|---:|---|---|---:|---:|")
    for lang in args.langs:
        for profile in args.profiles:
            s = TextSampler(lang, profile=profile)
            cov = coverage(s, args.n, seed=args.seed)
            script = set(s.charset.script_chars())
            own = {c: k for c, k in cov["items"].items() if c in script}
            least = sorted(cov["items"].items(), key=lambda kv: (kv[1], kv[0]))[:5]
            print(f"| {lang} | {profile} | {min(own.values())} | "
                  + ", ".join(f"{c} {k}".replace("|", "\\|") for c, k in least)
                  + f" | {' '.join(cov['zero']) or '-'} | "
                  f"{cov['conjuncts_seen']}/{cov['conjuncts_known']} | {cov['min_conjunct']} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

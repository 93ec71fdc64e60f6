"""Where does the Refiner change the Spotter's reading? Compare two `mstr eval` predictions files.

    .venv/bin/python tools/refiner_gain.py SPOTTER/predictions.jsonl REFINER/predictions.jsonl

Per language: words fixed / broken by the second reading; "diacritic CRR" = 100 × (1 − ED / n)
computed on the diacritic-only subsequences (the language's charset `diacritics`; not floored,
so it is negative when predictions add more wrong marks than the words hold); and WRR on words
holding a conjunct (a virama).
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

from mstr.charsets import load_charset
from mstr.eval.metrics import edit_distance


def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return {(r["lang"], r["dataset"], r["id"]): r for r in map(json.loads, f)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", help="predictions.jsonl of the Spotter alone")
    ap.add_argument("after", help="predictions.jsonl of Spotter + Refiner (same data)")
    args = ap.parse_args()
    a, b = _load(args.before), _load(args.after)
    stats: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for key, ra in a.items():
        rb = b.get(key)
        if rb is None:
            continue
        lang, gt, s = ra["lang"], ra["gt"], stats[ra["lang"]]
        cs = load_charset(lang)
        marks = set(cs.diacritics)
        s["fixed"] += (not ra["correct"]) and rb["correct"]
        s["broken"] += ra["correct"] and not rb["correct"]
        ref = "".join(c for c in gt if c in marks)
        s["marks"] += len(ref)
        for tag, r in (("a", ra), ("b", rb)):
            s[f"ed_{tag}"] += edit_distance("".join(c for c in r["pred"] if c in marks), ref)
        if cs.virama and cs.virama in gt:
            s["conj"] += 1
            s["conj_a"] += ra["correct"]
            s["conj_b"] += rb["correct"]
    print("| lang | fixed | broken | diacritic CRR before | after | conjunct words | their WRR before | after |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for lang, s in sorted(stats.items()):
        m = s["marks"]
        dca = f"{100 * (1 - s['ed_a'] / m):.2f}" if m else "-"
        dcb = f"{100 * (1 - s['ed_b'] / m):.2f}" if m else "-"
        n = s["conj"]
        wa = f"{100 * s['conj_a'] / n:.2f}" if n else "-"
        wb = f"{100 * s['conj_b'] / n:.2f}" if n else "-"
        print(f"| {lang} | {int(s['fixed'])} | {int(s['broken'])} | {dca} | {dcb} | {int(n) or '-'} | {wa} | {wb} |")


if __name__ == "__main__":
    main()

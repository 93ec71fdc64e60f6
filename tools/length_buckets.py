"""WRR by label length (code points, in buckets) per language, from an `mstr eval` predictions.jsonl.

    python tools/length_buckets.py runs/card/v2-test/predictions.jsonl [--width 3] [--langs ml,te]

Prints one Markdown row per language: the number of words and the WRR in each length bucket
(`0-2`, `3-5`, … with --width 3; the last bucket holds every longer word).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


NEEDED = {"lang", "len_gt", "correct"}  # the fields of a predictions.jsonl line this reads


def buckets(rows: list[dict], width: int, last: int) -> dict[str, dict[int, list[int]]]:
    """lang -> bucket start -> [right, total]; lengths from ``len_gt`` (the scored label's code points)."""
    out: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in rows:
        start = min(r["len_gt"] // width * width, last)
        cell = out[r["lang"]][start]
        cell[0] += bool(r["correct"])
        cell[1] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", type=Path, help="predictions.jsonl written by `mstr eval --out DIR`")
    ap.add_argument("--width", type=int, default=3, help="bucket width in code points (default 3)")
    ap.add_argument("--last", type=int, default=18, help="the last bucket starts here (default 18)")
    ap.add_argument("--langs", default="", help="comma-separated languages (default: all)")
    args = ap.parse_args(argv)
    if args.width < 1 or args.last < 0:
        ap.error("--width must be >= 1 and --last >= 0")
    try:
        lines = args.predictions.read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        if not all(isinstance(r, dict) and NEEDED <= r.keys() for r in rows):
            raise ValueError(f"a line lacks one of the fields {sorted(NEEDED)}")
        rows = [r for r in rows if r.get("error") is None]
    except (OSError, ValueError) as e:
        print(f"error: {args.predictions}: not an `mstr eval` predictions.jsonl ({e!r}); "
              "pass the predictions.jsonl of `mstr eval --out DIR`", file=sys.stderr)
        return 2
    keep = {x for x in args.langs.split(",") if x}
    table = buckets([r for r in rows if not keep or r["lang"] in keep], args.width, args.last // args.width * args.width)
    starts = sorted({s for per in table.values() for s in per})
    if not starts:
        print(f"error: {args.predictions}: no scored words for {args.langs or 'any language'}", file=sys.stderr)
        return 2
    last = starts[-1]
    names = [f"{s}-{s + args.width - 1}" if s < last else f"{s}+" for s in starts]
    print("| lang | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for lang in sorted(table):
        cells = [f"{100 * c[0] / c[1]:.0f} % ({c[1]})" if (c := table[lang].get(s)) else "–" for s in starts]
        print(f"| {lang} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""WRR per font design of a rendered held-out test set, from an `mstr eval` predictions.jsonl.

    python tools/font_buckets.py runs/data/v2_test runs/card/v2-test/predictions.jsonl [--langs ml,te]

An LMDB of `mstr synth words --fonts heldout` records no font per sample; every sample is seeded by
(seed, language, index), so this replays the render of each scored sample (the same spec, the same
fonts: their fingerprints must match the ones in done.json) and notes the design its word was
drawn in. Prints one Markdown row per design: language, words, WRR. Which held-out design a
language fails on tells a font-variety gap (one unusual design) from a general one.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

NEEDED = {"id", "lang", "gt_raw", "correct"}  # the fields of a predictions.jsonl line this reads
_INDEX = re.compile(r"^image-(\d{9})$")


def designs_of(data: Path, wanted: dict[str, list[int]]) -> dict[tuple[str, int], tuple[str, str]]:
    """(lang, LMDB index) -> (design, label) for the samples of ``wanted`` (lang -> indices, 1-based)."""
    from mstr.errors import UserError
    from mstr.synth.generate import GenSpec, SampleMaker, fonts_record, spec_fonts

    spec = GenSpec.from_json(json.loads((data / "spec.json").read_text(encoding="utf-8")))
    if spec.kind != "words" or spec.fonts != "heldout":
        raise UserError(f"{data}: a set of `mstr synth words --fonts heldout` is needed (this one: "
                        f"{spec.kind}, --fonts {spec.fonts}); the other splits interleave samples")
    made = json.loads((data / "done.json").read_text(encoding="utf-8")).get("fonts", {})
    now = fonts_record(spec)
    moved = [lang for lang in wanted if lang in made and made[lang]["fingerprint"] != now[lang]["fingerprint"]]
    if moved:
        raise UserError(f"{data}: the fonts of {', '.join(moved)} are not the ones the set was rendered with "
                        "(fingerprints differ): install the same fonts or font pool, or render the set again")
    out: dict[tuple[str, int], tuple[str, str]] = {}
    for lang, indices in sorted(wanted.items()):
        maker = SampleMaker(spec, lang, spec_fonts(spec, lang))  # the fonts the set drew from
        drawn: list = []
        pick = maker.synth.pick_font

        def recording(text, rng, pick=pick, drawn=drawn):
            font = pick(text, rng)
            drawn.append(font)
            return font

        maker.synth.pick_font = recording  # the font of the attempt that was kept is the last one picked
        for i in sorted(indices):
            drawn.clear()
            _, label = maker.make(i - 1)
            font = drawn[-1] if drawn else None
            out[(lang, i)] = (getattr(font, "design", None) or "?", label)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="the rendered set (the folder with spec.json and done.json)")
    ap.add_argument("predictions", type=Path, help="predictions.jsonl written by `mstr eval --lmdb DATA --out DIR`")
    ap.add_argument("--langs", default="", help="comma-separated languages (default: all)")
    args = ap.parse_args(argv)
    from mstr.errors import UserError

    try:
        rows = [json.loads(line) for line in args.predictions.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not all(isinstance(r, dict) and NEEDED <= r.keys() and _INDEX.match(str(r["id"])) for r in rows):
            raise ValueError(f"a line lacks one of the fields {sorted(NEEDED)} or an LMDB id (image-000000001)")
    except (OSError, ValueError) as e:
        print(f"error: {args.predictions}: not an `mstr eval --lmdb` predictions.jsonl ({e!r})", file=sys.stderr)
        return 2
    keep = {x for x in args.langs.split(",") if x}
    rows = [{**r, "key": (r["lang"], int(_INDEX.match(r["id"]).group(1)))} for r in rows
            if r.get("error") is None and (not keep or r["lang"] in keep)]
    if not rows:
        print(f"error: {args.predictions}: no scored words for {args.langs or 'any language'}", file=sys.stderr)
        return 2
    wanted: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        wanted[r["lang"]].append(r["key"][1])
    try:
        fonts = designs_of(args.data, wanted)
    except (UserError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    wrong = [r["id"] for r in rows if fonts[r["key"]][1] != r["gt_raw"]]
    if wrong:
        print(f"error: {len(wrong)} replayed labels differ from the predictions' (first: {wrong[0]}): "
              f"{args.predictions} was not made from {args.data}", file=sys.stderr)
        return 2
    table: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        cell = table[(r["lang"], fonts[r["key"]][0])]
        cell[0] += bool(r["correct"])
        cell[1] += 1
    print("| lang | design | words | WRR |")
    print("|---|---|---:|---:|")
    for (lang, design), (right, n) in sorted(table.items(), key=lambda kv: (kv[0][0], -kv[1][1], kv[0][1])):
        print(f"| {lang} | {design} | {n} | {100 * right / n:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Copy the fonts that synthesis uses for some languages into one folder, each subset to the
code points of those languages (+ ASCII and ◌) with every OpenType layout feature kept, so the
whole set travels to another machine in a few MB and shapes exactly as the originals.

    python tools/gpu/subset_fonts.py --langs en,hi,mr,bn,ta,te,ml,kn --per-design 2 --out .dev/fonts_v1

Only the training side of the design split is copied: generate from the folder with
``MSTR_FONT_DIRS=<out>`` and ``mstr synth words --fonts all`` where it is the only font folder.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path


def _rank(path: str) -> tuple:
    n = os.path.basename(path).lower()
    regular = bool(re.search(r"-regular\.|regular\.|^[^-]*\.(ttf|otf)$", n))
    bold = "bold" in n and not any(w in n for w in ("semi", "extra", "ultra"))
    return (0 if regular else 1 if bold else 2, "ui" in n, "condensed" in n or "display" in n, len(n))


def main(argv: list[str] | None = None) -> int:
    from fontTools import subset

    from mstr.charsets import load_charset, parse_langs
    from mstr.fonts import fonts_for_lang

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--langs", required=True)
    ap.add_argument("--per-design", type=int, default=2, help="font files kept per design and language")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    langs = parse_langs(a.langs)
    chosen: dict[tuple[str, int], set[str]] = {}
    for lang in langs:
        cs = load_charset(lang)
        text = "".join(str(x) for k in ("letters", "diacritics", "digits", "punctuation", "common")
                       for x in (getattr(cs, k, None) or []))
        by_design: dict[str, list] = {}
        for f in fonts_for_lang(lang, "train"):
            by_design.setdefault(f.design, []).append(f)
        for fonts in by_design.values():
            for f in sorted(fonts, key=lambda f: _rank(f.path))[: a.per_design]:
                chosen.setdefault((f.path, f.index), set()).update(text)
    a.out.mkdir(parents=True, exist_ok=True)
    ascii_ = {chr(c) for c in range(0x20, 0x7F)} | {"\u25cc"}
    for n, ((path, index), chars) in enumerate(sorted(chosen.items())):
        opts = subset.Options()
        opts.layout_features = ["*"]
        opts.name_IDs = ["*"]
        opts.name_languages = ["*"]
        opts.notdef_outline = True
        opts.font_number = index
        opts.hinting = False
        font = subset.load_font(path, opts)
        sub = subset.Subsetter(opts)
        sub.populate(unicodes=sorted({ord(c) for c in "".join(chars)} | {ord(c) for c in ascii_}))
        sub.subset(font)
        stem = Path(path).stem
        subset.save_font(font, str(a.out / f"{n:03d}-{stem}-{index}.ttf"), opts)
    size = sum(p.stat().st_size for p in a.out.iterdir())
    print(f"{a.out}: {len(chosen)} fonts, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

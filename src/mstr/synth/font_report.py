"""The font tables ``mstr synth fonts`` prints: coverage per design, the split per language and
the font pool's summary (the facts come from :mod:`mstr.fonts`)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from mstr.fonts.coverage import classify, lang_charset, lang_coverage
from mstr.fonts.discover import discover_fonts
from mstr.fonts.info import DOTTED_CIRCLE, FontInfo
from mstr.fonts.pool import read_pool, resolve_pool
from mstr.fonts.split import script_split
from mstr.scripts import SCRIPT_NAMES

__all__ = ["split_table", "coverage_table", "pool_table"]


def split_table(langs: Sequence[str], fonts: Sequence[FontInfo] | None = None) -> list[dict]:
    """Per language: number of usable fonts and designs, and the train / held-out designs."""
    fonts = discover_fonts() if fonts is None else list(fonts)
    rows = []
    for lang in langs:
        cs = lang_charset(lang)
        usable, held = script_split(cs.script, fonts)
        mine = usable.get(lang) or classify(lang, fonts)[0]
        designs = sorted({f.design for f in mine})
        rows.append({
            "lang": lang,
            "script": cs.script,
            "fonts": len(mine),
            "designs": len(designs),
            "train_fonts": sum(1 for f in mine if f.design not in held),
            "heldout_fonts": sum(1 for f in mine if f.design in held),
            "train_designs": [d for d in designs if d not in held],
            "heldout_designs": [d for d in designs if d in held],
            "excluded": len(classify(lang, fonts)[1]),
        })
    return rows


def coverage_table(langs: Sequence[str], fonts: Sequence[FontInfo] | None = None) -> str:
    """The table ``mstr synth fonts`` prints: one row per design, then a summary per language.

    Each language column shows the best coverage (%) of the design's files and a marker:
    ``T`` train, ``H`` held out, ``x`` covered but excluded, ``-`` not usable. ``◌`` says whether
    the design's files have U+25CC, needed to render a combining mark alone.
    """
    fonts = discover_fonts() if fonts is None else list(fonts)
    langs = list(langs)
    by_design: dict[str, list[FontInfo]] = {}
    for f in fonts:
        by_design.setdefault(f.design, []).append(f)
    info = {}
    for lang in langs:
        cs = lang_charset(lang)
        usable, held = script_split(cs.script, fonts)
        mine = usable.get(lang) or classify(lang, fonts)[0]
        info[lang] = (cs, {f.design for f in mine}, held,
                      {f.design for f, _ in classify(lang, fonts)[1]})
    rows, hidden = [], 0
    for design in sorted(by_design, key=str.casefold):
        files = by_design[design]
        cells, show, only_excluded = [], False, False
        for lang in langs:
            cs, usable_designs, held, excluded = info[lang]
            cov = max(lang_coverage(f, cs) for f in files)
            if design in usable_designs:
                mark = "H" if design in held else "T"
            else:
                mark = "x" if design in excluded else "-"
            show |= cov >= 0.5 and mark != "x"
            only_excluded |= mark == "x"
            cells.append(f"{100 * cov:5.1f} {mark}" if cov > 0 else "    . -")
        if not show:  # covers none of the languages (or only as an excluded font)
            hidden += only_excluded
            continue
        n_circle = sum(1 for f in files if f.has(DOTTED_CIRCLE))
        circle = "yes" if n_circle == len(files) else ("some" if n_circle else "no")
        rows.append((design, str(len(files)), circle, *cells))
    head = ("design", "files", "\u25cc", *langs)
    lines = _format([head, *rows], min_width={i: 7 for i in range(3, len(head))})
    lines.append("")
    lines.append("T train, H held out, x covers the language but excluded (see the summary), "
                 "- not usable; \u25cc: has U+25CC (dotted circle) for marks shown alone")
    if hidden:
        lines.append(f"{hidden} more designs cover a language only as excluded fonts and are not "
                     "listed (e.g. Indic and Arabic fonts with borrowed Latin glyphs)")
    for row in split_table(langs, fonts):
        lines.append("")
        lines.append(f"{row['lang']} ({SCRIPT_NAMES.get(row['script'], row['script'])}): "
                     f"{row['fonts']} fonts, {row['designs']} designs, "
                     f"{row['excluded']} covering fonts excluded")
        lines.append(f"  train    ({len(row['train_designs'])} designs, {row['train_fonts']} fonts): "
                     + (", ".join(row["train_designs"]) or "none"))
        lines.append(f"  held out ({len(row['heldout_designs'])} designs, "
                     f"{row['heldout_fonts']} fonts): "
                     + (", ".join(row["heldout_designs"]) or "none"))
    return "\n".join(lines)


def pool_table(langs: Sequence[str], pool: str | os.PathLike[str] | None = None) -> str:
    """The per-script and per-language summary ``mstr synth fonts --font-pool`` prints."""
    from mstr.charsets import load_charset

    fonts, data = read_pool(resolve_pool(pool) or Path("."))
    rejected: dict[str, int] = {s: len(v) for s, v in data.get("rejected", {}).items()}
    scripts = sorted({f.script for f in fonts}, key=lambda s: (s != "Latn", s))
    head = ("script", "families", "files", "train", "held out", "MB", "rejected")
    rows = []
    for s in scripts:
        mine = [f for f in fonts if f.script == s]
        designs = {f.info.design for f in mine}
        held = {f.info.design for f in mine if f.split == "heldout"}
        rows.append((SCRIPT_NAMES.get(s, s), len(designs), len(mine), len(designs - held), len(held),
                     f"{sum(f.size for f in mine) / 1e6:.1f}", rejected.get(s, 0)))
    total = sum(f.size for f in fonts) / 1e6
    rows.append(("all", len({(f.script, f.info.design) for f in fonts}), len(fonts), "", "",
                 f"{total:.1f}", sum(rejected.values())))
    lines = _format([head, *rows])
    lines.append("")
    lhead = ("lang", "script", "families", "train", "held out", "lacking a digit/punct.")
    lrows = []
    for lang in langs:
        mine = [f for f in fonts if lang in f.langs]
        designs = {f.info.design for f in mine}
        held = {f.info.design for f in mine if f.split == "heldout"}
        lacking = sum(1 for f in mine if f.lacks.get(lang))
        lrows.append((lang, load_charset(lang).script, len(designs), len(designs - held), len(held),
                      lacking))
    lines += _format([lhead, *lrows])
    return "\n".join(lines)


def _format(rows: list[Sequence[Any]], min_width: dict[int, int] | None = None) -> list[str]:
    """Rows as aligned columns (the first left-aligned, the others right-aligned), a rule under
    the first row; column ``i`` at least ``min_width[i]`` wide."""
    min_width = min_width or {}
    widths = [max(min_width.get(i, 0), *(len(str(r[i])) for r in rows)) for i in range(len(rows[0]))]
    out = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                     for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    out.insert(1, "-" * len(out[0]))
    return out

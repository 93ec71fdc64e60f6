"""What a font face is to mstr: :class:`FontInfo`, its design name and its code-point ranges.

A *design* is a typographic family with its width, optical-size, UI, slant and weight qualifiers
removed (:func:`design_of`), so that "Noto Sans Devanagari UI", "Noto Sans Devanagari" and
"Noto Sans Devanagari ExtraCondensed Bold" are one design: the unit of the train / held-out
split (:mod:`mstr.fonts.split`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

__all__ = ["FontInfo", "design_of", "DOTTED_CIRCLE", "FONT_EXTENSIONS", "SPLITS", "to_ranges", "from_ranges"]

FONT_EXTENSIONS = (".ttf", ".otf", ".ttc", ".otc", ".woff", ".woff2")  # WOFF2 needs brotli
#: U+25CC, the base shaping engines draw a combining mark on when it stands alone.
DOTTED_CIRCLE = "\u25cc"
#: The sides of the train / held-out font split a renderer can ask for.
SPLITS = ("train", "heldout", "all")


@dataclass(frozen=True)
class FontInfo:
    """One face of one font file.

    ``codepoints`` is the cmap less code points mapped to ``.notdef`` or to an empty glyph.
    Equality and hashing ignore ``codepoints`` (a face is identified by path and index).
    """

    path: str
    index: int  # face index inside .ttc / .otc collections (0 otherwise)
    family: str  # typographic family (name ID 16, else 1)
    design: str  # family without width / UI / optical-size / slant / weight qualifiers
    style: str  # typographic subfamily (name ID 17, else 2)
    codepoints: frozenset[int] = field(default=frozenset(), compare=False, hash=False, repr=False)
    ot_scripts: frozenset[str] = field(default=frozenset(), compare=False, hash=False)
    variable: bool = False  # has an ``fvar`` table (used at its default instance)

    @property
    def name(self) -> str:
        return f"{self.family} {self.style}".strip()

    def has(self, text: str) -> bool:
        """True when every code point of ``text`` is in the font's cmap."""
        cps = self.codepoints
        return all(ord(ch) in cps for ch in text)


# ----------------------------------------------------------------------------------------------
# design names

_QUALIFIER = (
    r"UI|Display|Text|Slanted|Italic|Oblique|Upright|Inclined|Classical|Mono|Math|Symbols|"
    r"(?:Semi|Extra|Ultra)?\s?(?:Condensed|Expanded)|Narrow|Wide|Cond|SemCond|ExtCond|"
    r"Thin|Hairline|(?:Extra|Ultra)\s?Light|Light|Book|Regular|Normal|Medium|"
    r"(?:Semi|Demi|Extra|Ultra)\s?Bold|Bold|Black|Heavy|Blk|Med|SemBd|ExtBd|ExtLt"
)
_TRAILING_QUALIFIER = re.compile(rf"[\s_-]+(?:{_QUALIFIER})$", re.IGNORECASE)
_TRAILING_VERSION = re.compile(r"[\s_.-]*\d+(?:\.\d+)*$")
#: Families whose glyphs are another family's design under another name.
_DESIGN_ALIASES: tuple[tuple[re.Pattern[str], str], ...] = (
    # same Bengali-script drawings, Assamese letters added
    (re.compile(r"^Lohit Assamese$"), "Lohit Bengali"),
    # the Devanagari designs localised for Marathi / Nepali / Sanskrit (same drawings)
    (re.compile(r"^Lohit (?:Marathi|Nepali)$"), "Lohit Devanagari"),
    (re.compile(r"^Tiro Devanagari (?:Hindi|Marathi|Sanskrit)$"), "Tiro Devanagari"),
    # the TeX Gyre math font built on DejaVu Serif
    (re.compile(r"^DejaVu Math TeX Gyre$"), "DejaVu Serif"),
    # one Naskh design localised for Urdu, Farsi, Sindhi, South Asia
    (re.compile(r"^PakType Naskh Basic\b.*$"), "PakType Naskh Basic"),
)


def design_of(family: str) -> str:
    """The unit of the train / held-out split: ``family`` without trailing qualifiers.

    >>> design_of("Noto Sans Devanagari UI"), design_of("Noto Sans Arabic ExtCond")
    ('Noto Sans Devanagari', 'Noto Sans Arabic')
    """
    name = " ".join(family.split())
    while True:
        new = _TRAILING_VERSION.sub("", name) if not name.isdigit() else name
        new = _TRAILING_QUALIFIER.sub("", new).strip()
        if not new or new == name:
            break
        name = new
    for pattern, design in _DESIGN_ALIASES:
        if pattern.match(name):
            return design
    return name


def to_ranges(cps: Iterable[int]) -> list[list[int]]:
    """Sorted code points as ``[[first, last], …]`` runs (the cache and ``pool.json`` form)."""
    out: list[list[int]] = []
    for cp in sorted(cps):
        if out and cp == out[-1][1] + 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def from_ranges(ranges: list[list[int]]) -> frozenset[int]:
    """The code points of ``[[first, last], …]`` runs."""
    return frozenset().union(*[range(lo, hi + 1) for lo, hi in ranges])

"""Shaping check of one font for one script, through HarfBuzz (``uharfbuzz``); build time only.

A font can have every code point of a language and still draw it wrongly. :func:`check_font`
shapes the script's clusters with HarfBuzz, the engine Pillow's RAQM layout uses, and reports:

* ``notdef``: a cluster shaped to glyph 0 (``.notdef``, drawn as an empty box or "tofu");
* ``dotted circle``: HarfBuzz inserted the font's U+25CC glyph, which it does for a cluster it
  judges broken (a mark with no base it may sit on);
* ``blank``: a cluster whose glyphs have no outline at all;
* ``no conjuncts`` (Indic) / ``no joining`` (Arabic): fewer than :data:`MIN_FORMED` of the
  conjunct samples (consonant + virama + consonant, reph) or joined letters are shaped to other
  glyphs than the letters' own glyphs, i.e. the font has no working shaping tables for the script.

The clusters (:func:`cluster_samples`) come from the language's charset: every letter alone, every consonant with every diacritic, every vowel letter with
the nasal / visarga signs, conjunct samples of every consonant (Tamil: consonant + u / uu, ligatures in Tamil fonts) and, for Arabic, every letter in
initial, medial and final position. Imported by the font-pool builder only, never by training
or inference code.
"""
from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from mstr.errors import UserError
from mstr.scripts import INDIC_BLOCK_START

__all__ = ["ClusterSet", "cluster_samples", "check_font", "sfnt_bytes", "MIN_FORMED", "malayalam_orthography"]

#: Smallest share of conjunct (or joined-letter) samples a font must shape to other glyphs.
MIN_FORMED = 0.5
#: Malayalam fonts of the reformed orthography show the virama (chandrakkala) in about half of
#: the samples, by design; a font with no shaping tables forms none or almost none.
MIN_FORMED_SCRIPT = {"Mlym": 0.25}
DOTTED_CIRCLE = 0x25CC

#: Consonants outside the ISCII consonant rows (Assamese RA / WA, Odia WA, Devanagari extras).
_EXTRA_CONSONANTS = frozenset({0x09F0, 0x09F1, 0x0B71, *range(0x0979, 0x0980)})
#: Second consonants of the conjunct samples, as ISCII offsets: KA, TA, NA, YA, RA, VA.
_CONJUNCT_SECOND = (0x15, 0x24, 0x28, 0x2F, 0x30, 0x35)
#: Gurmukhi joins only a few consonants below another (RA, VA, HA).
_SCRIPT_SECOND = {"Guru": (0x30, 0x35, 0x39)}
_NASAL_WORDS = ("ANUSVARA", "CANDRABINDU", "VISARGA")


@dataclass(frozen=True)
class ClusterSet:
    """The text samples one script is checked with (each a short string)."""

    script: str
    plain: tuple[str, ...]  # must shape without .notdef, dotted circle or blank
    formed: tuple[tuple[str, ...], ...] = field(default=())  # each must shape to other glyphs


def _is_consonant(cp: int, script: str) -> bool:
    off = cp - INDIC_BLOCK_START[script]
    return 0x15 <= off <= 0x39 or 0x58 <= off <= 0x5F or cp in _EXTRA_CONSONANTS


@lru_cache(maxsize=None)
def cluster_samples(lang: str) -> ClusterSet:
    """The clusters a font must shape for ``lang``, from the language's charset."""
    from mstr.charsets import load_charset

    cs = load_charset(lang)
    script = cs.script
    letters = list(dict.fromkeys(cs.letters))
    marks = list(dict.fromkeys(cs.diacritics))
    virama = cs.virama
    plain: list[str] = list(letters)
    formed: list[tuple[str, ...]] = []
    if script in INDIC_BLOCK_START:
        base = INDIC_BLOCK_START[script]
        cons = [c for c in letters if _is_consonant(ord(c), script)]
        vowels = [c for c in letters if c not in cons]
        nasal = [m for m in marks if any(w in unicodedata.name(m, "") for w in _NASAL_WORDS)]
        plain += [c + m for c in cons for m in marks]
        plain += [v + m for v in vowels for m in nasal]
        if script == "Taml":  # consonant + u / uu are ligatures in every Tamil font
            formed = [tuple(c + m for c in cons for m in ("\u0bc1", "\u0bc2") if m in marks)]
        elif virama:
            second = [chr(base + off) for off in _SCRIPT_SECOND.get(script, _CONJUNCT_SECOND)]
            second = [c for c in second if c in cons]
            conj = [c + virama + c2 for c in cons for c2 in second]
            ra = chr(base + 0x30)
            if second and ra in cons and script != "Guru":  # reph
                conj += [ra + virama + c for c in cons]
            plain += conj
            formed = [tuple(dict.fromkeys(conj))] if conj else []
    elif script == "Arab":
        plain += [letters[0] + m for m in marks]  # harakat on one letter
        plain += [c + "\u0628" for c in letters]
        joined = [3 * c for c in letters if unicodedata.category(c) == "Lo"]
        plain += joined
        formed = [tuple(joined)]
    return ClusterSet(script=script, plain=tuple(dict.fromkeys(plain)), formed=tuple(formed))


def sfnt_bytes(path: str | Path, index: int = 0) -> bytes:
    """The font file as plain sfnt (TrueType / CFF) bytes: WOFF / WOFF2 are decompressed."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:4] not in (b"wOFF", b"wOF2"):
        return data
    from fontTools.ttLib import TTFont

    tt = TTFont(io.BytesIO(data), fontNumber=index, lazy=False)
    tt.flavor = None
    out = io.BytesIO()
    tt.save(out)
    return out.getvalue()


class _Shaper:
    """One HarfBuzz font; shapes strings to glyph ids."""

    def __init__(self, data: bytes, index: int = 0) -> None:
        import uharfbuzz as hb

        self._hb = hb
        self.font = hb.Font(hb.Face(hb.Blob(data), index))
        self.circle = self.font.get_nominal_glyph(DOTTED_CIRCLE)
        self._ink: dict[int, bool] = {}

    def shape(self, text: str) -> list[int]:
        buf = self._hb.Buffer()
        buf.add_str(text)
        buf.guess_segment_properties()
        self._hb.shape(self.font, buf, {})
        return [g.codepoint for g in buf.glyph_infos]

    def nominal(self, text: str) -> list[int | None]:
        return [self.font.get_nominal_glyph(ord(c)) for c in text]

    def inked(self, gid: int) -> bool:
        if gid not in self._ink:
            ext = self.font.get_glyph_extents(gid)
            self._ink[gid] = ext is not None and ext.width != 0 and ext.height != 0
        return self._ink[gid]


def check_font(path: str | Path, lang: str, *, index: int = 0, data: bytes | None = None,
               max_examples: int = 3, skip: Sequence[str] = ()) -> list[str]:
    """Problems of one font for language ``lang``: an empty list when it shapes every sample.

    Each problem is one line naming the failure and up to ``max_examples`` clusters.
    ``data``: the font's sfnt bytes, if already read (else read from ``path``). ``skip``:
    characters the font is known to lack (rare letters, see
    :func:`mstr.synth.poolbuild.rare_letters`): samples holding one are not shaped.
    """
    try:
        import uharfbuzz  # noqa: F401
    except ImportError as exc:
        raise UserError("the shaping check needs uharfbuzz: pip install 'mstr[fontpool]'") from exc
    shaper = _Shaper(sfnt_bytes(path, index) if data is None else data, index)
    samples = cluster_samples(lang)
    script = samples.script
    bad: dict[str, list[str]] = {"notdef": [], "dotted circle": [], "blank": []}
    def kept(texts: Sequence[str]) -> list[str]:
        return [t for t in texts if not any(c in t for c in skip)]

    plain = kept(samples.plain)
    for text in plain:
        gids = shaper.shape(text)
        if 0 in gids:
            bad["notdef"].append(text)
        elif shaper.circle and shaper.circle in gids:
            bad["dotted circle"].append(text)
        elif not any(shaper.inked(g) for g in gids):
            bad["blank"].append(text)
    problems = [f"{kind} in {len(texts)} of {len(plain)} clusters "
                f"(e.g. {' '.join(texts[:max_examples])})" for kind, texts in bad.items() if texts]
    word = "joining" if script == "Arab" else "conjuncts"
    for group in map(kept, samples.formed):
        same = [t for t in group if shaper.shape(t) == shaper.nominal(t)]
        if group and 1 - len(same) / len(group) < MIN_FORMED_SCRIPT.get(script, MIN_FORMED):
            problems.append(f"no {word}: {len(same)} of {len(group)} samples keep the letters' "
                            f"own glyphs (e.g. {' '.join(same[:max_examples])})")
    return problems


#: consonants whose vowel sign u (U+0D41) a traditional-orthography Malayalam font ligates
_ML_CONSONANTS = "കഗചജടതനപമരലശസ"


def malayalam_orthography(path: str | Path, *, index: int = 0, data: bytes | None = None) -> str:
    """``"traditional"`` when the Malayalam font joins the vowel sign u to most consonants in one
    glyph (കു drawn as a ligature, the pre-1971 orthography), else ``"reformed"`` (the sign drawn
    apart, as signs and schoolbooks print today)."""
    shaper = _Shaper(sfnt_bytes(path, index) if data is None else data, index)
    joined = sum(len(shaper.shape(c + "\u0d41")) == 1 for c in _ML_CONSONANTS)
    return "traditional" if joined > len(_ML_CONSONANTS) // 2 else "reformed"


def font_ot_tags(tt: Any) -> list[str]:
    """GSUB / GPOS script tags of an open fontTools font (for pool records)."""
    tags: set[str] = set()
    for table in ("GSUB", "GPOS"):
        if table in tt and tt[table].table.ScriptList is not None:
            tags.update(rec.ScriptTag for rec in tt[table].table.ScriptList.ScriptRecord)
    return sorted(tags)

"""Which fonts can render a language: charset coverage and the fonts excluded despite it.

A font is *usable* for a language when it has every required character of the language's
charset (letters and diacritics, virama and nukta included), real OpenType shaping tables for
the script (Indic and Arabic), and, for Latin, when its Latin glyphs are a design of their own
(see :func:`_other_script_reason`).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any, Callable, Sequence

from mstr.fonts.discover import discover_fonts
from mstr.fonts.info import FontInfo
from mstr.scripts import SCRIPT_NAMES, SCRIPT_RANGES

__all__ = ["lang_coverage", "missing_chars", "excluded_fonts", "classify", "required_chars",
           "lang_charset", "all_langs", "OT_SCRIPT_TAGS", "OTHER_SCRIPT_NAME", "KNOWN_BAD_FAMILIES"]

#: OpenType script tags (old and new Indic shapers), one of which a font needs in its GSUB/GPOS
#: script list to be shaped for the script (else conjuncts, reordering or joining go wrong).
OT_SCRIPT_TAGS: dict[str, tuple[str, ...]] = {
    "Deva": ("deva", "dev2"), "Beng": ("beng", "bng2"), "Guru": ("guru", "gur2"),
    "Gujr": ("gujr", "gjr2"), "Orya": ("orya", "ory2"), "Taml": ("taml", "tml2"),
    "Telu": ("telu", "tel2"), "Knda": ("knda", "knd2"), "Mlym": ("mlym", "mlm2"),
    "Arab": ("arab",),
}

#: Fonts that have the code points but are known to render the script wrongly: family → reason.
#: Empty today: every usable font of the Debian packages listed in the README shapes (a conjunct
#: or joined word rendered through HarfBuzz/raqm differs from the unshaped rendering).
KNOWN_BAD_FAMILIES: dict[str, str] = {}



@lru_cache(maxsize=None)
def lang_charset(lang: str) -> Any:
    """The charset of ``lang`` (loaded once)."""
    from mstr.charsets import load_charset

    return load_charset(lang)


@lru_cache(maxsize=None)
def all_langs() -> tuple[str, ...]:
    """Every supported language (:data:`mstr.charsets.ALL_LANGS`)."""
    from mstr.charsets import ALL_LANGS

    return tuple(ALL_LANGS)


def _items(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [value] if len(value) <= 1 else list(value)
    return [str(v) for v in value if v]


@lru_cache(maxsize=None)
def _required_items(charset: Any) -> tuple[str, ...]:
    items = _items(charset.letters) + _items(charset.diacritics)
    items += _items(getattr(charset, "virama", None)) + _items(getattr(charset, "nukta", None))
    return tuple(dict.fromkeys(items))


def required_chars(charset: Any) -> tuple[str, ...]:
    """What a font must have to render ``charset``: letters, diacritics, virama and nukta."""
    try:
        return _required_items(charset)
    except TypeError:  # unhashable charset object
        return _required_items.__wrapped__(charset)


def missing_chars(font: FontInfo, charset: Any) -> list[str]:
    """The required characters (letters, diacritics) of ``charset`` that ``font`` lacks."""
    return [item for item in required_chars(charset) if not font.has(item)]


def lang_coverage(font: FontInfo, charset: Any) -> float:
    """Fraction of the charset's required characters (letters + diacritics) the font has.

    U+25CC (dotted circle) is not counted here; see ``font.has(DOTTED_CIRCLE)``.
    """
    if isinstance(charset, str):
        charset = lang_charset(charset)
    required = required_chars(charset)
    if not required:
        return 1.0
    return sum(1 for item in required if font.has(item)) / len(required)



_SCRIPT_WORDS = {
    "Deva": "Devanagari|Hindi|Marathi|Nepali|Sanskrit",
    "Beng": "Bengali|Bangla|Assamese",
    "Guru": "Gurmukhi|Punjabi",
    "Gujr": "Gujarati",
    "Orya": "Oriya|Odia",
    "Taml": "Tamil",
    "Telu": "Telugu",
    "Knda": "Kannada",
    "Mlym": "Malayalam",
    "Arab": "Arabic|Urdu|Naskh|Nastaliq|Kufi|Farsi|Persian|Sindhi",
}
#: A family name that names a script other than Latin (such a font's Latin is borrowed).
OTHER_SCRIPT_NAME = re.compile(
    r"\b(?:" + "|".join(_SCRIPT_WORDS.values()) + r"|Armenian|Georgian|Hebrew|Thai|Lao|Khmer|"
    r"Myanmar|Sinhala|Tibetan|Ethiopic|Cherokee|Mongolian|Syriac|Thaana|Grantha|Adlam|"
    r"CJK|Han|Kana|Hangul|Japanese|Korean|Chinese)\b",
    re.IGNORECASE,
)
#: a font with at least this many code points outside the supported non-Latin scripts is a
#: pan-Unicode font (DejaVu): its Latin is its own design even though it also has Arabic.
_PAN_UNICODE_MIN = 1000


@lru_cache(maxsize=None)
def _script_letters() -> dict[str, frozenset[int]]:
    """Letters (code points) of each supported script, from the charsets of ALL_LANGS."""
    out: dict[str, set[int]] = {}
    for lang in all_langs():
        cs = lang_charset(lang)
        out.setdefault(cs.script, set()).update(
            ord(c) for item in _items(cs.letters) for c in item)
    return {s: frozenset(v) for s, v in out.items()}


@lru_cache(maxsize=None)
def _non_latin_block_codepoints() -> frozenset[int]:
    return frozenset(cp for s, ranges in SCRIPT_RANGES.items() if s != "Latn"
                     for lo, hi in ranges for cp in range(lo, hi + 1))


#: Latin, Greek, Cyrillic and their extensions (IPA, Latin Extended, math alphanumerics)
_EUROPEAN_RANGES = ((0x0000, 0x052F), (0x1D00, 0x1FFF), (0x2C60, 0x2C7F), (0xA720, 0xA7FF),
                    (0xAB30, 0xAB6F), (0xFB00, 0xFB06), (0x1D400, 0x1D7FF))


@lru_cache(maxsize=None)
def _other_script_reason(font: FontInfo) -> str | None:
    """Why ``font`` is a font of another script whose Latin glyphs are borrowed, or None.

    Such fonts (Lohit Devanagari, Amiri, Rasa, the Arabeyes fonts…) take their Latin from a Latin
    family (often one also installed, e.g. Rasa's is Yrsa's), so their Latin is no design of its
    own and would leak between the Latin train and held-out sets. A font is one when its family
    names another script, or, unless it is a pan-Unicode font (DejaVu Sans: at least 1000 code
    points outside the supported non-Latin scripts), when it has 60% (at most 40) of the letters
    of a supported non-Latin script, or more letters of other scripts than half its
    Latin/Greek/Cyrillic letters (20 at least: Saurashtra, Nushu… fonts).
    """
    m = OTHER_SCRIPT_NAME.search(font.family)
    if m:
        return f"family name names another script ({m.group(0)})"
    cps = font.codepoints
    if len(cps - _non_latin_block_codepoints()) >= _PAN_UNICODE_MIN:
        return None
    for script, letters in sorted(_script_letters().items()):
        if script == "Latn" or not letters:
            continue
        have = len(cps & letters)
        if have >= min(40, max(1, round(0.6 * len(letters)))):
            return f"a {SCRIPT_NAMES.get(script, script)} font ({have} of its letters)"
    european = other = 0
    for cp in cps:
        if unicodedata.category(chr(cp)).startswith("L"):
            if any(lo <= cp <= hi for lo, hi in _EUROPEAN_RANGES):
                european += 1
            else:
                other += 1
    if other >= 20 and other > european / 2:
        return f"mainly a font of another script ({other} non-Latin letters, {european} Latin)"
    return None


def _shaping_reason(font: FontInfo, script: str) -> str | None:
    if font.family in KNOWN_BAD_FAMILIES:
        return KNOWN_BAD_FAMILIES[font.family]
    tags = OT_SCRIPT_TAGS.get(script)
    if tags and not font.ot_scripts.intersection(tags):
        return f"no OpenType shaping tables for {SCRIPT_NAMES.get(script, script)} ({'/'.join(tags)})"
    return None


def classify(lang: str, fonts: Sequence[FontInfo], *, may_lack: Callable[[FontInfo], bool] | None = None,
             ) -> tuple[list[FontInfo], list[tuple[FontInfo, str]]]:
    """(usable fonts, [(font, reason)] for fonts with full coverage that are still excluded).

    ``may_lack``: also take a font that lacks required characters when ``may_lack(font)`` says
    so (the font pool's fonts lacking a few rare letters); the system-font split never does."""
    cs = lang_charset(lang)
    required = required_chars(cs)
    candidates = sorted((f for f in fonts if all(f.has(item) for item in required)
                         or (may_lack is not None and may_lack(f))),
                        key=lambda f: (f.path, f.index))
    excluded: dict[FontInfo, str] = {}
    for f in candidates:
        reason = _shaping_reason(f, cs.script)
        if reason:
            excluded[f] = reason
    if cs.script == "Latn":
        bad_designs: dict[str, str] = {}
        for f in candidates:  # judged per design: one non-Latin file taints the whole design
            if f.design not in bad_designs:
                reason = _other_script_reason(f)
                if reason:
                    bad_designs[f.design] = f"{reason}: its Latin glyphs are not a design of their own"
        for f in candidates:
            if f.design in bad_designs and f not in excluded:
                excluded[f] = bad_designs[f.design]
    usable = [f for f in candidates if f not in excluded]
    return usable, sorted(excluded.items(), key=lambda kv: (kv[0].path, kv[0].index))


def excluded_fonts(lang: str, fonts: Sequence[FontInfo] | None = None) -> list[tuple[FontInfo, str]]:
    """Fonts that cover ``lang`` but are not used for it, with the reason."""
    return classify(lang, discover_fonts() if fonts is None else fonts)[1]

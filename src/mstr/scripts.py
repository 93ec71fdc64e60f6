"""Which script (ISO 15924) a code point belongs to, for the charsets and the bank.

The table follows the Unicode blocks of the supported scripts, with the characters Unicode puts
in the Common script (``Zyyy``) although they sit inside a script's block: the dandas
(U+0964/5, shared by the Indic scripts) and the Arabic comma, semicolon, question mark and
tatweel. Arabic harakat (Unicode script "Inherited") are counted as ``Arab``: they are only
written on Arabic letters.
"""
from __future__ import annotations

from collections import Counter

__all__ = ["SCRIPT_RANGES", "COMMON_SCRIPT", "UNKNOWN_SCRIPT", "COMMON_IN_BLOCKS", "script_of", "SCRIPT_NAMES",
           "SUBTYPES", "INDIC_SCRIPTS", "INDIC_BLOCK_START", "script_of_text"]

#: ISO 15924 code of the Common script (digits, punctuation, dandas, the bank's special tokens).
COMMON_SCRIPT = "Zyyy"
#: ISO 15924 code for a character of no supported script.
UNKNOWN_SCRIPT = "Zzzz"
#: What a character is to the bank and to mCLIP's prompts (the ``<type=…>`` tokens, in this order).
SUBTYPES: tuple[str, ...] = ("letter", "diacritic", "digit", "punctuation", "special")

#: ISO 15924 code → inclusive code-point ranges.
SCRIPT_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "Latn": ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x24F), (0x1E00, 0x1EFF)),
    "Deva": ((0x0900, 0x097F), (0xA8E0, 0xA8FF)),
    "Beng": ((0x0980, 0x09FF),),
    "Guru": ((0x0A00, 0x0A7F),),
    "Gujr": ((0x0A80, 0x0AFF),),
    "Orya": ((0x0B00, 0x0B7F),),
    "Taml": ((0x0B80, 0x0BFF),),
    "Telu": ((0x0C00, 0x0C7F),),
    "Knda": ((0x0C80, 0x0CFF),),
    "Mlym": ((0x0D00, 0x0D7F),),
    "Arab": ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
}

#: First code point of each Indic (Brahmic) block; the blocks share the ISCII layout, so a letter
#: sits at the same offset from it in every one of them.
INDIC_BLOCK_START: dict[str, int] = {s: SCRIPT_RANGES[s][0][0] for s in (
    "Deva", "Beng", "Guru", "Gujr", "Orya", "Taml", "Telu", "Knda", "Mlym")}
#: The Indic (Brahmic) scripts.
INDIC_SCRIPTS: frozenset[str] = frozenset(INDIC_BLOCK_START)

SCRIPT_NAMES: dict[str, str] = {
    "Latn": "Latin", "Deva": "Devanagari", "Beng": "Bengali", "Guru": "Gurmukhi",
    "Gujr": "Gujarati", "Orya": "Oriya", "Taml": "Tamil", "Telu": "Telugu", "Knda": "Kannada",
    "Mlym": "Malayalam", "Arab": "Arabic", COMMON_SCRIPT: "Common",
}

#: Code points inside a script block that Unicode assigns to Common.
COMMON_IN_BLOCKS: frozenset[int] = frozenset({0x0964, 0x0965, 0x060C, 0x061B, 0x061F, 0x0640})

_COMMON_RANGES = ((0x20, 0x40), (0x5B, 0x60), (0x7B, 0x7E), (0xA0, 0xBF), (0xD7, 0xD7),
                  (0xF7, 0xF7), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x25CC, 0x25CC))


def script_of(ch: str) -> str:
    """ISO 15924 code of one character: a script above, ``Zyyy`` (Common) or ``Zzzz`` (unknown)."""
    if len(ch) != 1:
        raise ValueError(f"script_of takes one code point, got {ch!r}")
    cp = ord(ch)
    if cp in COMMON_IN_BLOCKS:
        return COMMON_SCRIPT
    for code, ranges in SCRIPT_RANGES.items():
        if any(lo <= cp <= hi for lo, hi in ranges):
            return code
    if any(lo <= cp <= hi for lo, hi in _COMMON_RANGES):
        return COMMON_SCRIPT
    return UNKNOWN_SCRIPT


def script_of_text(text: str) -> str | None:
    """The script holding most script-specific characters of ``text`` (None when none has);
    Common and unknown characters do not vote, a tie goes to the script met first."""
    votes: Counter[str] = Counter()
    for ch in text:
        s = script_of(ch)
        if s not in (COMMON_SCRIPT, UNKNOWN_SCRIPT):
            votes[s] += 1
    return votes.most_common(1)[0][0] if votes else None

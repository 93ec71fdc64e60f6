"""The parts of an akshara in a Brahmic-script charset (used by the text sampler).

:class:`IndicParts` sorts the charset's characters of one Brahmic script into consonants,
independent vowels, vowel-sign units (NFKD: Tamil ொ → ெ + ா is one unit), modifiers (anusvara,
candrabindu, visarga), addak, the virama and the nukta with the consonants that take it.
"""
from __future__ import annotations

import unicodedata

from mstr.scripts import INDIC_BLOCK_START, script_of

__all__ = ["IndicParts", "indic_parts"]


# Names (after "<SCRIPT> LETTER ") of independent vowels in the Indic blocks.
_VOWEL_NAMES = frozenset({
    "A", "AA", "I", "II", "U", "UU", "E", "EE", "AI", "O", "OO", "AU", "VOCALIC R", "VOCALIC RR",
    "VOCALIC L", "VOCALIC LL", "SHORT A", "SHORT E", "SHORT O", "CANDRA A", "CANDRA E", "CANDRA O",
    "OE", "OOE", "AW", "UE", "UUE",
})
# Length marks that modern orthography also writes alone as a vowel sign: Malayalam AU (ൗ)
# ("കൗൺസിൽ"; ൌ = െ + ൗ is the older spelling).
_STANDALONE_VOWEL_PIECES = frozenset({"\u0d57"})
# Consonant offsets (within a Brahmic block) whose Devanagari / Gurmukhi letters take a nukta;
# used only for scripts whose charset has a nukta but Unicode lists no nukta decompositions.
_NUKTA_OFFSETS = frozenset({0x15, 0x16, 0x17, 0x1C, 0x21, 0x22, 0x2B, 0x2F, 0x28, 0x30, 0x33, 0x38})



class IndicParts:
    """The charset's characters of a Brahmic script, sorted into the parts of an akshara."""

    def __init__(self, charset):
        self.script: str = charset.script
        self.virama: str | None = charset.virama
        self.nukta: str | None = charset.nukta
        in_charset = set(charset.chars())
        consonants, vowels, others, vowel_pieces, modifiers, addak = [], [], [], [], [], []
        for ch in sorted(set(charset.letters) | set(charset.diacritics)):
            if len(ch) != 1 or script_of(ch) != self.script:
                continue
            kind = self.classify(ch)
            {"consonant": consonants, "vowel": vowels, "other": others,
             "vowel_sign": vowel_pieces, "modifier": modifiers, "addak": addak,
             }.get(kind, []).append(ch)
        self.consonants = tuple(consonants)
        self.vowels = tuple(vowels)
        self.others = tuple(others)
        self.modifiers = tuple(modifiers)
        self.addak = tuple(addak)
        # Vowel-sign units: the NFKD form of every vowel sign of the block whose pieces are all in
        # the charset (Tamil ொ → ெ + ா is one unit), plus any single piece no unit holds.
        units: set[str] = set()
        start = INDIC_BLOCK_START[self.script]
        for cp in range(start, start + 0x80):
            ch = chr(cp)
            if "VOWEL SIGN" in unicodedata.name(ch, ""):
                unit = unicodedata.normalize("NFKD", ch)
                if all(p in in_charset for p in unit):
                    units.add(unit)
        covered = {p for u in units for p in u}
        for p in vowel_pieces:
            if p not in covered or p in _STANDALONE_VOWEL_PIECES:
                units.add(p)
        self.vowel_units = tuple(sorted(units))
        self.vowel_pieces = tuple(vowel_pieces)
        # Consonants that take the nukta: the bases of Unicode's nukta decompositions in the block.
        takes: set[str] = set()
        if self.nukta:
            for cp in range(start, start + 0x80):
                dec = unicodedata.normalize("NFD", chr(cp))
                if len(dec) == 2 and dec[1] == self.nukta and dec[0] in consonants:
                    takes.add(dec[0])
            if not takes:
                takes = {c for c in consonants if ord(c) - start in _NUKTA_OFFSETS}
        self.nukta_consonants = tuple(sorted(takes))
        self._units_by_piece = {p: tuple(u for u in self.vowel_units if p in u)
                                for p in vowel_pieces}

    def classify(self, ch: str) -> str:
        """Role of one character: consonant, vowel, other, vowel_sign, virama, nukta,
        modifier, addak, digit or punct (from its Unicode name and category)."""
        if ch == self.virama:
            return "virama"
        if ch == self.nukta:
            return "nukta"
        cat = unicodedata.category(ch)
        name = unicodedata.name(ch, "")
        if cat == "Nd":
            return "digit"
        if cat[0] == "M":
            if "VOWEL SIGN" in name or "LENGTH MARK" in name:
                return "vowel_sign"
            if "ADDAK" in name:
                return "addak"
            return "modifier"
        if cat[0] == "L":
            if " VOWEL " in name:  # e.g. GUJARATI VOWEL CANDRA E (an independent vowel)
                return "vowel"
            _, sep, tail = name.partition(" LETTER ")
            if not sep or tail.startswith("CHILLU") or tail == "KHANDA TA":
                return "other"  # avagraha, chillus, khanda ta, Gurmukhi iri / ura (ੲ ੳ), …
            return "vowel" if tail in _VOWEL_NAMES else "consonant"
        if cat[0] == "P":
            return "punct"
        return "other"

    def units_with(self, piece: str) -> tuple[str, ...]:
        return self._units_by_piece.get(piece, ())


def indic_parts(charset) -> IndicParts:
    """:class:`IndicParts` of a Brahmic-script charset."""
    return IndicParts(charset)

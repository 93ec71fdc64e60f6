"""The bank's token table: which characters are rows, in which order, with which script and subtype.

Script-specific characters get one entry per (script, code point) — Hindi and Marathi share the
Devanagari entries, Bengali and Assamese the Bengali ones — and characters a charset lists under
``common`` (ASCII digits and punctuation, dandas, ₹ …) get ONE shared entry of script ``Zyyy``
(:data:`mstr.scripts.COMMON_SCRIPT`). Rows 0 and 1 are always the specials ``<eos>`` and ``<pad>``
(script ``Zzzz``, :data:`mstr.scripts.UNKNOWN_SCRIPT`).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Collection, Sequence

from mstr.charsets import load_charset, parse_langs
from mstr.errors import UserError
from mstr.scripts import COMMON_SCRIPT, UNKNOWN_SCRIPT

__all__ = ["SPECIALS", "EOS_ID", "PAD_ID", "COMMON_SCRIPT", "SPECIAL_SCRIPT", "SUBTYPES",
           "BankEntry", "bank_entries", "entry_key", "special_entries"]

SPECIALS: tuple[str, ...] = ("<eos>", "<pad>")
EOS_ID = 0
PAD_ID = 1
#: the script of the specials (Unicode's "unknown"); ``COMMON_SCRIPT`` (``Zyyy``) is the shared entries'
SPECIAL_SCRIPT = UNKNOWN_SCRIPT
SUBTYPES: tuple[str, ...] = ("letter", "diacritic", "digit", "punctuation", "special")


@dataclass(frozen=True)
class BankEntry:
    """One row of the bank's token table.

    ``token`` is one NFKD code point (or a name from :data:`SPECIALS`); ``script`` the ISO 15924
    code of the entry (the language's script, ``Zyyy`` for shared common characters, ``Zzzz`` for
    specials); ``langs`` the languages whose charset holds it (stored sorted and unique);
    ``subtype`` one of :data:`SUBTYPES`.
    """

    token: str
    script: str
    langs: tuple[str, ...]
    subtype: str

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or not self.token:
            raise ValueError(f"bank entry token must be a non-empty string, got {self.token!r}")
        if not isinstance(self.script, str) or len(self.script) != 4:
            raise ValueError(f"bank entry {self.token!r}: script must be an ISO 15924 code, "
                             f"got {self.script!r}")
        if self.subtype not in SUBTYPES:
            raise ValueError(f"bank entry {self.token!r}: subtype {self.subtype!r} is not one of "
                             f"{', '.join(SUBTYPES)}")
        if isinstance(self.langs, str) or not all(isinstance(x, str) for x in self.langs):
            raise ValueError(f"bank entry {self.token!r}: langs must be a sequence of language "
                             f"codes, got {self.langs!r}")
        is_special = self.token in SPECIALS
        if is_special != (self.script == SPECIAL_SCRIPT) or is_special != (self.subtype == "special"):
            raise ValueError(f"bank entry {self.token!r} ({self.script}, {self.subtype}): only the "
                             f"specials {', '.join(SPECIALS)} have script {SPECIAL_SCRIPT} and "
                             "subtype 'special'")
        if not is_special and (len(self.token) != 1
                               or unicodedata.normalize("NFKD", self.token) != self.token):
            raise ValueError(f"bank entry {self.token!r}: must be one NFKD-stable code point")
        object.__setattr__(self, "langs", tuple(sorted(set(self.langs))))

    @property
    def key(self) -> tuple[str, str]:
        """``(script, token)``: unique within a bank."""
        return (self.script, self.token)

    def to_dict(self) -> dict[str, Any]:
        return {"token": self.token, "script": self.script, "langs": list(self.langs),
                "subtype": self.subtype}


def special_entries() -> list[BankEntry]:
    """The rows every bank starts with: ``<eos>``, ``<pad>``."""
    return [BankEntry(name, SPECIAL_SCRIPT, (), "special") for name in SPECIALS]


def entry_key(ch: str, charset: Any, common: Collection[str] | None = None) -> tuple[str, str]:
    """The bank key ``(script, token)`` of a character of ``charset``: the shared Common entry
    when the character is listed under ``common`` (default: the charset's own ``common``), else
    the entry of the charset's script."""
    return (COMMON_SCRIPT, ch) if ch in (charset.common if common is None else common) else (charset.script, ch)


def bank_entries(langs: str | Sequence[str]) -> list[BankEntry]:
    """The ordered token table for ``langs`` (codes or presets, see :func:`parse_langs`).

    Order: the specials; then the Common (``Zyyy``) entries in code-point order; then the
    script-specific entries grouped by script, scripts in the order they first appear in
    ``langs``, code-point order inside a script. A character held by several languages of the
    same script is one entry listing all of them; a character any charset lists under
    ``common`` is the one shared ``Zyyy`` entry, whichever language holds it.
    """
    charsets = [load_charset(lang) for lang in parse_langs(langs)]
    common = set().union(*(cs.common for cs in charsets))
    langs_of: dict[tuple[str, str], set[str]] = {}
    subtype_of: dict[tuple[str, str], tuple[str, str]] = {}  # key -> (subtype, first lang)
    script_order: dict[str, None] = {}
    for cs in charsets:
        script_order.setdefault(cs.script, None)
        for ch in cs.chars():
            key = entry_key(ch, cs, common)
            langs_of.setdefault(key, set()).add(cs.lang)
            sub = cs.subtype(ch)
            first = subtype_of.setdefault(key, (sub, cs.lang))
            if first[0] != sub:
                raise UserError(f"charsets disagree on {ch!r} (U+{ord(ch):04X}): {first[1]!r} "
                                f"calls it a {first[0]}, {cs.lang!r} a {sub}; fix one charset file")

    def group(script: str) -> list[BankEntry]:
        keys = sorted((k for k in langs_of if k[0] == script), key=lambda k: ord(k[1]))
        return [BankEntry(ch, script, tuple(langs_of[(s, ch)]), subtype_of[(s, ch)][0])
                for s, ch in keys]

    out = special_entries() + group(COMMON_SCRIPT)
    for script in script_order:
        out += group(script)
    return out

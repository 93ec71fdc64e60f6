"""Signboard vocabulary: the v2 text-sampler modes (shop words, names, phones, abbreviations).

``load_sign_vocab(lang)`` reads ``mstr/resources/vocab/signs/<lang>.tsv`` (``kind<TAB>word``
lines, NFKD; built by ``tools/build_sign_vocab.py``, sources and licences in the README of
``resources/vocab``). Kinds: ``loan`` (English loanwords spelled as Indian signs spell them:
मेडिकल, மெடிக்கல்; for English the English words), ``native`` (native sign words: दुकान,
கடை), ``person``, ``place``, ``brand`` (names), ``abbrev.<role>`` with role ``title``
(Dr., डॉ.), ``number`` (No.), ``phone`` (Mob:), ``company`` (Pvt.Ltd.), ``join`` (&),
``place`` (Rd.). Languages without a file (pa, ur) get an empty mapping.

:class:`SignModes` is a mixin of :class:`mstr.synth.vocab.TextSampler`; its ``_mode_*`` methods
produce one raw text each from the sampler's Generator (the sampler normalises and checks it):

``sign``      a word of any sign list (loanword, native word, name, abbreviation), with sign
              casing for Latin (UPPER, Title, lower) and now and then trailing punctuation;
``loanword``  an English loanword (Latin: the English word in sign casing);
``name``      a person, place or shop name;
``phone``     an Indian phone number as labels write it (whitespace removed): mobiles
              ``9845012345``, ``+919845012345``, ``+91-98450-12345``, landlines ``080-23456789``,
              ``(0821)2345678``, toll-free ``1800-425-1234``, pairs ``9845012345/46``,
              ``9845012345,9448012345``,
              optionally after a phone abbreviation (``Mob:``, ``मो.``), ASCII or native digits;
``abbrev``    an abbreviation alone or fused as signs print it once spaces are dropped:
              ``Dr.Rao``, ``No.12/3``, ``Estd.1985``, ``Pvt.Ltd.``, ``&``.
"""
from __future__ import annotations

import functools
from importlib import resources

import numpy as np

from mstr.errors import UserError

__all__ = ["load_sign_vocab", "SIGN_KINDS", "SignModes"]

SIGN_KINDS: tuple[str, ...] = ("loan", "native", "person", "place", "brand", "abbrev.title",
                               "abbrev.number", "abbrev.phone", "abbrev.company", "abbrev.join",
                               "abbrev.place")
_NAME_KINDS = ("person", "place", "brand")
_STD_CODES = ("011", "022", "033", "044", "040", "080", "020", "079", "0821", "0824", "0422",
              "0484", "0471", "0891", "0866", "0712", "0241", "0231", "0353", "0361")


@functools.lru_cache(maxsize=None)
def load_sign_vocab(lang: str) -> dict[str, tuple[str, ...]]:
    """The sign lists of ``lang``: kind → tuple of NFKD words (empty dict without a file)."""
    from mstr.synth.wordlists import vocab_path  # validates the language code

    vocab_path(lang)
    path = resources.files("mstr").joinpath("resources", "vocab", "signs", f"{lang}.tsv")
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return {}
    out: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        kind, sep, word = line.partition("\t")
        if not sep or kind not in SIGN_KINDS or not word:
            raise UserError(f"{path}:{n}: expected 'kind<TAB>word' with a kind of "
                            f"{list(SIGN_KINDS)}; regenerate with `tools/build_sign_vocab.py`")
        out.setdefault(kind, []).append(word)
    return {k: tuple(v) for k, v in out.items()}


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


class SignModes:
    """The v2 modes of :class:`~mstr.synth.vocab.TextSampler` (a mixin; see the module doc).

    Expects from the sampler: ``lang``, ``script``, ``max_len``, ``_covered``, ``_punct``,
    ``_native_digits``, ``_ascii_digits``, ``_word`` and ``_mode_word``.
    """

    @functools.cached_property
    def _signs(self) -> dict[str, tuple[str, ...]]:
        covered = self._covered
        lists = {k: tuple(w for w in ws if covered.issuperset(w) and len(w) <= self.max_len)
                 for k, ws in load_sign_vocab(self.lang).items()}
        return {k: ws for k, ws in lists.items() if ws}

    def _sign_kinds_available(self) -> dict[str, bool]:
        """Which v2 list-based modes have words (the others fold into ``word``)."""
        s = self._signs
        return {"sign": bool(s), "loanword": "loan" in s,
                "name": any(k in s for k in _NAME_KINDS),
                "abbrev": any(k.startswith("abbrev.") for k in s)}

    # ------------------------------------------------------------------ helpers
    def _latin_case(self, rng: np.random.Generator, w: str) -> str:
        """Sign casing of a Latin word: UPPER, Title, or as listed; other scripts unchanged."""
        if self.script != "Latn":
            return w
        r = rng.random()
        if r < 0.45:
            return w.upper()
        if r < 0.8:
            return w[:1].upper() + w[1:]
        return w

    def _from(self, rng: np.random.Generator, kinds: tuple[str, ...]) -> str:
        """A word of a kind drawn uniformly among the given kinds that have words ('' if none)."""
        have = [k for k in kinds if k in self._signs]
        return _pick(rng, self._signs[_pick(rng, have)]) if have else ""

    def _phone_digits(self, rng: np.random.Generator, text: str) -> str:
        if len(self._native_digits) == 10 and (not self._ascii_digits or rng.random() < 0.15):
            return text.translate({ord(a): n for a, n in zip("0123456789", self._native_digits)})
        return text

    # ------------------------------------------------------------------ modes
    def _mode_loanword(self, rng: np.random.Generator) -> str:
        return self._latin_case(rng, self._from(rng, ("loan",))) or self._mode_word(rng)

    def _mode_name(self, rng: np.random.Generator) -> str:
        return self._latin_case(rng, self._from(rng, _NAME_KINDS)) or self._mode_word(rng)

    def _mode_sign(self, rng: np.random.Generator) -> str:
        r = rng.random()
        if r < 0.4:
            w = self._from(rng, ("loan",))
        elif r < 0.6:
            w = self._from(rng, ("native",)) or self._from(rng, ("loan",))
        elif r < 0.9:
            w = self._from(rng, _NAME_KINDS)
        else:
            w = self._from(rng, tuple(k for k in self._signs if k.startswith("abbrev.")))
        if not w:
            return self._mode_word(rng)
        w = self._latin_case(rng, w)
        if self.script == "Latn" and rng.random() < 0.05 and w[-1:].isalpha():
            w += "'s" if w[-1] in "abcdefghijklmnopqrstuvwxyz" else "'S"
        trail = [p for p in ".:-!" if p in self._punct]
        if trail and rng.random() < 0.06 and w[-1:] not in trail:
            w += _pick(rng, trail)
        return w

    def _phone_number(self, rng: np.random.Generator) -> str:
        ri = lambda lo, hi: int(rng.integers(lo, hi + 1))  # noqa: E731  (inclusive)
        kind = ri(0, 9)
        mobile = f"{ri(6, 9)}{ri(0, 999_999_999):09d}"
        if kind <= 4:  # mobile, with or without +91 / 0 and separators
            head, tail = mobile[:5], mobile[5:]
            return _pick(rng, (mobile, mobile, f"+91{mobile}", f"+91-{mobile}",
                               f"+91-{head}-{tail}", f"{head}-{tail}", f"0{mobile}",
                               f"+91{head}-{tail}"))
        if kind <= 6:  # landline: STD code + number, 11 digits with the 0
            std = _pick(rng, _STD_CODES)
            rest = 10 - len(std)  # 11 digits in all: 080 2345 6789, 0821 234 5678
            num = f"{ri(2, 7)}{ri(0, 10 ** rest - 1):0{rest}d}"
            return _pick(rng, (f"{std}-{num}", f"({std}){num}", f"{std}{num}",
                               f"+91-{std[1:]}-{num}", f"{std}-{num[:4]}-{num[4:]}"))
        if kind == 7:  # toll-free
            return f"1800-{ri(100, 599)}-{ri(0, 9999):04d}"
        if kind == 8:  # two numbers: the second's last digits, or the whole second one
            if rng.random() < 0.6:
                return f"{mobile}/{ri(0, 99):02d}"
            return f"{mobile}{_pick(rng, ',/')}{ri(6, 9)}{ri(0, 999_999_999):09d}"
        return f"{mobile[:5]}{mobile[5:]}"  # plain, as most signs print it

    def _mode_phone(self, rng: np.random.Generator) -> str:
        text = self._phone_number(rng)
        prefixes = self._signs.get("abbrev.phone", ())
        if prefixes and rng.random() < 0.25:
            text = self._latin_case(rng, _pick(rng, prefixes)) + text
        return self._phone_digits(rng, text)

    def _mode_abbrev(self, rng: np.random.Generator) -> str:
        roles = [k for k in self._signs if k.startswith("abbrev.")]
        if not roles:
            return self._mode_word(rng)
        role = _pick(rng, roles)
        tok = _pick(rng, self._signs[role])
        if self.script == "Latn" and rng.random() < 0.3:
            tok = tok.upper()
        r = rng.random()
        if r < 0.45:
            return tok
        ri = lambda lo, hi: int(rng.integers(lo, hi + 1))  # noqa: E731
        if role == "abbrev.title":
            name = self._from(rng, ("person",)) or self._word(rng)
            return tok + self._latin_case(rng, name)
        if role == "abbrev.number":
            if tok.lower().startswith(("estd", "since")) or "स्था" in tok:
                num = str(ri(1947, 2024))
            else:
                forms = [str(ri(1, 999)), f"{ri(1, 99)}/{ri(1, 9)}", f"{ri(1, 99)}-{ri(1, 99)}"]
                if self.script == "Latn":
                    forms.append(f"{ri(1, 999)}{_pick(rng, 'ABC')}")
                num = _pick(rng, forms)
            return tok + self._phone_digits(rng, num)
        if role == "abbrev.phone":
            return self._mode_phone(rng)
        name = self._from(rng, ("brand", "person", "place")) or self._word(rng)
        return self._latin_case(rng, name) + tok if role != "abbrev.join" else tok

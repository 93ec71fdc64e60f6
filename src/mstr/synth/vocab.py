"""The text sampler that feeds the synthetic word renderer.

The word lists are read by :mod:`mstr.synth.wordlists`; the ``random`` / ``rare`` / ``cluster``
modes are :mod:`mstr.synth.aksharas`, the signboard modes :mod:`mstr.synth.signvocab`.

``TextSampler(lang)`` draws the text of one synthetic word image from a ``numpy`` Generator. It
mixes several *modes* so that a recogniser sees more than dictionary words:

``word``
    a vocabulary word; Zipf-like over the frequency rank with a uniform floor, so frequent words
    dominate but rare ones still appear; unranked dictionary words are drawn uniformly.
``case``
    (English only) a word in UPPER, Title or rAnDoM case; for other scripts it folds into word.
``number``
    numbers, decimals, dates, times, prices, percentages and phone-like strings, in the script's
    native digits (when it has them) or ASCII digits, with separators ``, . - / :``.
``punct``
    a word with leading and/or trailing punctuation from the charset.
``random``
    Latin: random letters and digits. Indic: random well-formed aksharas built from the
    charset's parts (consonant, optional virama + consonant conjunct, nukta only on consonants
    that take one, optional vowel sign, optional anusvara / candrabindu / visarga), so uncommon
    conjuncts and marks are seen. Urdu: random letters with occasional harakat.
``rare``
    a character drawn uniformly from the charset's script characters, inside a short
    well-formed akshara string, alone or inserted into a vocabulary word (Latin: replacing or
    inserting a letter), so that every character of the charset appears in training.

Those six modes make the ``"v1"`` profile (the default; its draws for a seed are fixed). The
``"v2"`` profile (``TextSampler(lang, profile="v2")``, weights in :data:`V2_MODE_WEIGHTS`) adds
``sign``, ``loanword``, ``name``, ``phone`` and ``abbrev`` (signboard vocabulary,
:mod:`mstr.synth.signvocab`) and ``cluster`` (rare characters and conjuncts drawn by inverse
word count, :mod:`mstr.synth.clusters`).

Every sample is normalised with :func:`mstr.text.normalize`, non-empty, at most ``max_len`` code
points long and covered by the language's charset. A vocabulary word with characters outside the
charset is skipped (and counted in ``TextSampler.skipped_oov``). The sampler draws only from the
Generator it is given: the same seed gives the same sequence.
"""
from __future__ import annotations

import unicodedata
from typing import Mapping

import numpy as np

from mstr.errors import UserError
from mstr.scripts import INDIC_SCRIPTS, script_of
from mstr.synth.aksharas import RandomTextModes, pick
from mstr.synth.indic import IndicParts, indic_parts
from mstr.synth.signvocab import SignModes
from mstr.synth.wordlists import load_vocab, ranked_prefix_len, vocab_tables
from mstr.text import normalize

__all__ = ["TextSampler", "MODES", "DEFAULT_MODE_WEIGHTS",
           "MODES_V2", "ALL_MODES", "V2_MODE_WEIGHTS", "PROFILES",
           "indic_parts", "IndicParts"]

#: The modes of the v1 profile (and their order, which fixes the draw for a seed).
MODES: tuple[str, ...] = ("word", "case", "number", "punct", "random", "rare")
#: Modes added by the v2 profile (signboard vocabulary, see mstr.synth.signvocab, and
#: rare-cluster balancing, see mstr.synth.clusters).
MODES_V2: tuple[str, ...] = ("sign", "loanword", "name", "phone", "abbrev", "cluster")
ALL_MODES: tuple[str, ...] = MODES + MODES_V2

#: Default share of each mode; ``case`` is folded into ``word`` for scripts without case.
DEFAULT_MODE_WEIGHTS: dict[str, float] = {
    "word": 0.62, "case": 0.08, "number": 0.06, "punct": 0.06, "random": 0.10, "rare": 0.08,
}
#: The v2 profile: 39 % of the draws from the signboard modes, 17 % rare-cluster balancing.
#: ``case`` folds into ``word`` for scripts without case; ``sign``/``loanword``/``name``/
#: ``abbrev`` fold into ``word`` for a language without those lists (pa, ur).
V2_MODE_WEIGHTS: dict[str, float] = {
    "word": 0.24, "case": 0.04, "number": 0.04, "punct": 0.03, "random": 0.05, "rare": 0.04,
    "sign": 0.09, "loanword": 0.11, "name": 0.10, "phone": 0.05, "abbrev": 0.04, "cluster": 0.17,
}
#: Named default mixes: ``TextSampler(lang, profile=...)``.
PROFILES: dict[str, dict[str, float]] = {"v1": DEFAULT_MODE_WEIGHTS, "v2": V2_MODE_WEIGHTS}

_CASED_SCRIPTS = frozenset({"Latn"})
_ASCII_DIGITS = "0123456789"

# --------------------------------------------------------------------------- sampler
class TextSampler(RandomTextModes, SignModes):
    """Draws the text of synthetic word images for one language (see the module docstring).

    ``profile`` names the default mode mix (:data:`PROFILES`: ``"v1"``, the default, or
    ``"v2"``, which adds the signboard and rare-cluster modes); ``mode_weights`` replaces it.
    """

    modes: tuple[str, ...] = ALL_MODES

    def __init__(self, lang: str, *, mode_weights: Mapping[str, float] | None = None,
                 max_len: int = 24, profile: str = "v1"):
        from mstr.charsets import load_charset

        if profile not in PROFILES:
            raise UserError(f"unknown text-sampler profile {profile!r}; profiles are "
                            f"{sorted(PROFILES)}")
        self.profile = profile
        if int(max_len) < 1:
            raise UserError(f"max_len must be at least 1, got {max_len}")
        self.lang = lang
        self.max_len = int(max_len)
        self.charset = cs = load_charset(lang)
        self.script: str = cs.script
        self.skipped_oov = 0

        # mode weights -------------------------------------------------------------------
        weights = dict(PROFILES[profile] if mode_weights is None else mode_weights)
        unknown = sorted(set(weights) - set(ALL_MODES))
        if unknown:
            raise UserError(f"unknown text-sampler mode(s) {unknown}; modes are "
                            f"{list(ALL_MODES)}")
        for m, w in weights.items():
            if not np.isfinite(w) or w < 0:
                raise UserError(f"mode weight {m}={w} must be a finite number >= 0")
        weights = {m: float(weights.get(m, 0.0)) for m in ALL_MODES}

        # characters ---------------------------------------------------------------------
        self._covered = set(cs.chars())
        self._script_chars = tuple(sorted(cs.script_chars()))
        self._native_digits = tuple(d for d in cs.digits if d in self._covered)
        self._ascii_digits = tuple(d for d in _ASCII_DIGITS if d in self._covered)
        punct = [p for p in (*cs.punctuation, *cs.common)
                 if len(p) == 1 and p in self._covered and unicodedata.category(p)[0] in "PS"]
        self._punct = tuple(dict.fromkeys(punct))
        # the usual marks are drawn more often than the rest of the charset's punctuation
        self._trail_punct = tuple(p for p in ".,!?:;-\u0964\u0965\u06d4\u060c\u061f\u061b"
                                  if p in self._punct)
        self._lead_punct = tuple(p for p in "(\"'#@*-" if p in self._punct)
        self._indic = indic_parts(cs) if self.script in INDIC_SCRIPTS else None
        letters = [ch for ch in cs.letters if len(ch) == 1 and script_of(ch) == self.script
                   and unicodedata.category(ch)[0] == "L"]
        self._letters = tuple(sorted(letters))
        self._marks = tuple(sorted(ch for ch in cs.diacritics
                                   if len(ch) == 1 and unicodedata.category(ch)[0] == "M"))
        if self._indic is not None:
            starters = self._indic.consonants + self._indic.vowels
        else:
            starters = self._letters
        self._fallback = tuple(ch for ch in (starters or self._letters) if ch in self._covered)
        if not self._fallback:
            raise UserError(f"the charset of {lang!r} has no letters to sample from")

        # vocabulary ---------------------------------------------------------------------
        words = load_vocab(lang)
        self.vocab = words
        self._n_ranked = ranked_prefix_len(words)
        self._ok, self._rank_cdf, self._dict_idx = vocab_tables(lang, self.max_len)
        has_ranked, has_dict = self._rank_cdf is not None, len(self._dict_idx) > 0
        # share of draws from the frequency-ranked head when there is also a dictionary tail
        self._p_ranked = (0.75 if has_dict else 1.0) if has_ranked else 0.0
        self._has_words = has_ranked or has_dict
        self._set_weights(weights)

    def _set_weights(self, weights: dict[str, float]) -> None:
        """Fold the modes this language cannot draw into ``word``, normalise, build the CDF.

        The v1 arithmetic (and so the v1 draws for a seed) is unchanged by the v2 modes: their
        weights are 0 there, and adding 0.0 or trailing zeros changes no float."""
        if self.script not in _CASED_SCRIPTS:
            weights["word"] += weights["case"]
            weights["case"] = 0.0
        for m, ok in self._sign_kinds_available().items():
            if not ok and weights[m] > 0:
                weights["word"] += weights[m]
                weights[m] = 0.0
        total = sum(weights.values())
        if total <= 0:
            raise UserError("the text-sampler mode weights sum to 0: give at least one mode a "
                            "positive weight")
        self._weights = {m: w / total for m, w in weights.items()}
        self._active = tuple(m for m in ALL_MODES if self._weights[m] > 0)
        self._cum = np.cumsum([self._weights[m] for m in self._active])
        self._cum[-1] = 1.0

    # ------------------------------------------------------------------ public API
    def describe(self) -> dict:
        """The effective (normalised) mode weights and the sampler's settings."""
        return {
            "lang": self.lang, "script": self.script, "max_len": self.max_len,
            "profile": self.profile,
            "mode_weights": {m: round(w, 6) for m, w in self._weights.items()},
            "vocab_size": len(self.vocab), "vocab_ranked": self._n_ranked,
            "vocab_covered": int(self._ok.sum()),
        }

    def sample(self, rng: np.random.Generator) -> str:
        """One text: normalised, non-empty, at most ``max_len`` code points, in the charset."""
        return self.sample_with_mode(rng)[1]

    def sample_with_mode(self, rng: np.random.Generator) -> tuple[str, str]:
        """``(mode, text)``: like :meth:`sample`, also naming the mode that produced the text."""
        mode = self._active[int(np.searchsorted(self._cum, rng.random(), side="right"))
                            if len(self._active) > 1 else 0]
        return mode, self.sample_mode(rng, mode)

    def sample_mode(self, rng: np.random.Generator, mode: str) -> str:
        """One text of a given mode (any mode in :attr:`modes`; ``case`` needs a cased script)."""
        if mode not in ALL_MODES:
            raise UserError(f"unknown text-sampler mode {mode!r}; modes are {list(ALL_MODES)}")
        if mode == "case" and self.script not in _CASED_SCRIPTS:
            mode = "word"
        fn = getattr(self, f"_mode_{mode}")
        for _ in range(50):
            text = normalize(fn(rng))
            if text and len(text) <= self.max_len and self.charset.covers(text):
                return text
        return pick(rng, self._fallback)

    # ------------------------------------------------------------------ helpers
    def _word(self, rng: np.random.Generator) -> str:
        """A vocabulary word that fits ``max_len`` and the charset ('' if none found)."""
        if not self._has_words:
            return ""
        for _ in range(100):
            if self._p_ranked >= 1.0 or (self._p_ranked > 0 and rng.random() < self._p_ranked):
                i = int(np.searchsorted(self._rank_cdf, rng.random(), side="right"))
                i = min(i, self._n_ranked - 1)
            else:
                i = int(self._dict_idx[int(rng.integers(len(self._dict_idx)))])
            if self._ok[i]:
                return self.vocab[i]
            self.skipped_oov += 1
        return ""

    def _digits(self, rng: np.random.Generator) -> tuple[str, ...]:
        if self._native_digits and len(self._native_digits) == 10 and (
                not self._ascii_digits or rng.random() < 0.5):
            return self._native_digits
        return self._ascii_digits or self._native_digits

    # ------------------------------------------------------------------ modes
    def _mode_word(self, rng: np.random.Generator) -> str:
        return self._word(rng) or self._mode_random(rng)

    def _mode_case(self, rng: np.random.Generator) -> str:
        w = self._word(rng) or self._mode_random(rng)
        r = rng.random()
        if r < 0.5:
            return w.upper()
        if r < 0.8:
            return w[:1].upper() + w[1:]
        flips = rng.random(len(w)) < 0.5
        return "".join(c.upper() if f else c.lower() for c, f in zip(w, flips))

    def _mode_number(self, rng: np.random.Generator) -> str:
        d = self._digits(rng)
        if len(d) != 10:
            return self._mode_word(rng)
        ri = lambda lo, hi: int(rng.integers(lo, hi + 1))  # noqa: E731  (inclusive)
        kind = ri(0, 7)
        if kind == 0:  # integer
            text = str(ri(0, 10 ** ri(1, 6) - 1))
        elif kind == 1:  # decimal
            text = f"{ri(0, 9999)}{pick(rng, '.,')}{ri(0, 99):0{ri(1, 2)}d}"
        elif kind == 2:  # thousands: western 12,345,678 or Indian 1,23,45,678 grouping
            n = ri(1000, 99_999_999)
            if rng.random() < 0.5:
                text = f"{n:,}"
            else:
                head, tail = str(n)[:-3], str(n)[-3:]
                groups = []
                while len(head) > 2:
                    groups.insert(0, head[-2:])
                    head = head[:-2]
                text = ",".join([head, *groups, tail])
        elif kind == 3:  # date
            sep = pick(rng, "/-.")
            year = f"{ri(1950, 2035)}" if rng.random() < 0.6 else f"{ri(0, 99):02d}"
            text = sep.join([f"{ri(1, 31):02d}", f"{ri(1, 12):02d}", year])
        elif kind == 4:  # time
            text = f"{ri(0, 23):02d}:{ri(0, 59):02d}"
        elif kind == 5:  # price
            text = str(ri(1, 10 ** ri(1, 5) - 1))
            if rng.random() < 0.4:
                text += f".{ri(0, 99):02d}"
            cur = [c for c in ("₹", "$", "Rs.", "/-") if all(ch in self._covered for ch in c)]
            if cur:
                c = pick(rng, cur)
                text = text + c if c == "/-" else c + text
        elif kind == 6:  # phone-like
            if rng.random() < 0.5:
                text = f"{ri(6, 9)}{ri(0, 9999):04d}-{ri(0, 99999):05d}"
            else:
                text = f"+{ri(1, 99)}-{ri(10, 9999)}-{ri(0, 999999):06d}"
        else:  # percentage
            text = f"{ri(0, 100)}%"
        if d[0] != "0":  # native digits
            text = text.translate({ord(a): n for a, n in zip(_ASCII_DIGITS, d)})
        return text

    def _mode_punct(self, rng: np.random.Generator) -> str:
        w = self._word(rng) or self._mode_random(rng)
        if not self._punct:
            return w
        pairs = [(a, b) for a, b in ('()', '[]', '""', "''", '{}', '<>')
                 if a in self._covered and b in self._covered]
        r = rng.random()
        if r < 0.2 and pairs:
            a, b = pick(rng, pairs)
            return a + w + b

        def one(preferred: tuple[str, ...]) -> str:
            return pick(rng, preferred if preferred and rng.random() < 0.7 else self._punct)

        lead = one(self._lead_punct) if r < 0.45 else ""
        trail = "" if 0.2 <= r < 0.3 else one(self._trail_punct)
        if rng.random() < 0.1 and trail:
            trail = trail * int(rng.integers(2, 4))  # "!!", "..."
        return lead + w + trail

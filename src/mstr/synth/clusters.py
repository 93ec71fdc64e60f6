"""Rare-cluster balancing (the ``cluster`` text-sampler mode) and charset coverage measurement.

A *unit* is one script character of the charset (letter, vowel sign, virama, nukta, anusvara,
…; not the native digits, which the number and phone modes draw) or, for Brahmic scripts, one
virama conjunct ``C(nukta)? virama C`` that occurs in the language's word lists.
:class:`ClusterIndex` maps every unit to the words (vocabulary and sign lists) that contain it.
The ``cluster`` mode draws a unit — a character with probability 0.6, a conjunct with 0.4 — with
weight ``1 / (df + SMOOTH)``, ``df`` being the number of words that hold it (for an upper-case
Latin letter a tenth of its lower case's), and then a word holding it uniformly: the rarer a
character or conjunct is in the lists (and so in the other modes' draws), the more often this
mode draws it. A unit that no word holds is rendered as a short well-formed string around it
(the sampler's ``rare`` machinery).

:func:`coverage` counts, over ``n`` samples, in how many samples each charset item occurs; the
least covered items are the figure to watch (see ``tools/vocab_coverage.py``).
"""
from __future__ import annotations

import collections
import unicodedata

import numpy as np

__all__ = ["ClusterIndex", "cluster_index", "units_of", "coverage"]

#: share of ``cluster`` draws that pick a conjunct (the rest pick a single character)
P_CONJUNCT = 0.4
#: added to a unit's word count before inverting it, so that a unit held by one or two words
#: is not drawn thousands of times more often than a common one (one word repeated)
SMOOTH = 10.0


def _cdf(df: np.ndarray) -> np.ndarray:
    w = 1.0 / (df.astype(np.float64) + SMOOTH)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    return cdf


def units_of(word: str, virama: str | None, nukta: str | None, starts: frozenset[str]) -> set[str]:
    """The characters of ``word`` and its virama conjuncts ``C(nukta)? virama C``.

    ``starts``: the consonants of the script (a conjunct joins two of them)."""
    units = set(word)
    if virama:
        for i, ch in enumerate(word):
            if ch != virama or i == 0 or i + 1 >= len(word) or word[i + 1] not in starts:
                continue
            j = i - 1
            if nukta and word[j] == nukta and j > 0:
                j -= 1
            if word[j] in starts:
                end = i + 2
                if nukta and end < len(word) and word[end] == nukta:
                    end += 1
                units.add(word[j:end])
    return units


class ClusterIndex:
    """Units of one language and the words holding each (see the module docstring)."""

    def __init__(self, sampler) -> None:
        from mstr.synth.signvocab import load_sign_vocab

        indic = sampler._indic
        virama = indic.virama if indic is not None else None
        nukta = indic.nukta if indic is not None else None
        starts = frozenset(indic.consonants) if indic is not None else frozenset()
        covered, max_len = sampler._covered, sampler.max_len
        pool: dict[str, None] = {}
        for w in sampler.vocab:
            if len(w) <= max_len and covered.issuperset(w):
                pool[w] = None
        for words in load_sign_vocab(sampler.lang).values():
            for w in words:
                if len(w) <= max_len and covered.issuperset(w):
                    pool[w] = None
        self.words: tuple[str, ...] = tuple(pool)
        holders: dict[str, list[int]] = collections.defaultdict(list)
        for i, w in enumerate(self.words):
            for u in units_of(w, virama, nukta, starts):
                holders[u].append(i)
        # native digits are left to the number and phone modes (no word holds them)
        self.chars: tuple[str, ...] = tuple(c for c in sampler._script_chars
                                            if unicodedata.category(c) != "Nd")
        self.conjuncts: tuple[str, ...] = tuple(sorted(u for u in holders if len(u) > 1))
        self.holders = {u: np.asarray(ix, dtype=np.int64) for u, ix in holders.items()}
        if sampler.script == "Latn":  # an upper-case letter: a word with its lower case, upper
            for c in self.chars:
                if c not in self.holders and c.lower() in self.holders:
                    self.holders[c] = self.holders[c.lower()]
        self.missing: tuple[str, ...] = tuple(c for c in self.chars if c not in self.holders)
        # An upper-case Latin letter counts a tenth of its lower case's words: the lists are
        # lower case and only the case and sign modes draw upper case.
        upper = 0.1 if sampler.script == "Latn" else 1.0
        df = lambda units: np.array([len(self.holders.get(u, ())) * (upper if u.isupper()  # noqa: E731
                                                                     else 1.0) for u in units])
        self._char_cdf = _cdf(df(self.chars)) if self.chars else None
        self._conj_cdf = _cdf(df(self.conjuncts)) if self.conjuncts else None

    def draw(self, rng: np.random.Generator) -> tuple[str, str | None]:
        """``(unit, word)``: a unit drawn by inverse word count (see the module docstring) and a
        word holding it, or None when no word does."""
        if self.conjuncts and rng.random() < P_CONJUNCT:
            units, cdf = self.conjuncts, self._conj_cdf
        elif self.chars:
            units, cdf = self.chars, self._char_cdf
        else:
            return "", None
        unit = units[min(int(np.searchsorted(cdf, rng.random(), side="right")), len(units) - 1)]
        ix = self.holders.get(unit)
        if ix is None or not len(ix):
            return unit, None
        return unit, self.words[int(ix[int(rng.integers(len(ix)))])]


def cluster_index(sampler) -> ClusterIndex:
    """The (cached per language and ``max_len``) :class:`ClusterIndex` of a sampler."""
    key = (sampler.lang, sampler.max_len)
    cache = _INDEXES
    if key not in cache:
        cache[key] = ClusterIndex(sampler)
    return cache[key]


_INDEXES: dict[tuple[str, int], ClusterIndex] = {}


def coverage(sampler, n: int, seed: int = 0) -> dict:
    """Sample ``n`` texts and count, per charset item, the samples that contain it.

    Returns ``{"n", "items": {char: count}, "least": [(char, count), …] (10 lowest),
    "zero": [chars never seen], "conjuncts_seen", "conjuncts_known", "min_conjunct"}`` where the
    conjunct figures are over the conjuncts the language's word lists hold.
    """
    rng = np.random.default_rng(seed)
    items = tuple(sampler.charset.chars())
    counts = collections.Counter()
    conj = collections.Counter()
    idx = cluster_index(sampler)
    indic = sampler._indic
    virama = indic.virama if indic is not None else None
    nukta = indic.nukta if indic is not None else None
    starts = frozenset(indic.consonants) if indic is not None else frozenset()
    for _ in range(n):
        t = sampler.sample(rng)
        for u in units_of(t, virama, nukta, starts):
            if len(u) == 1:
                counts[u] += 1
            else:
                conj[u] += 1
    per_item = {c: counts.get(c, 0) for c in items}
    least = sorted(per_item.items(), key=lambda kv: (kv[1], kv[0]))[:10]
    known = set(idx.conjuncts)
    return {"n": n, "items": per_item, "least": least,
            "zero": [c for c, k in per_item.items() if k == 0],
            "conjuncts_known": len(known), "conjuncts_seen": len(known & set(conj)),
            "min_conjunct": min((conj.get(u, 0) for u in known), default=0)}

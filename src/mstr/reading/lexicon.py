"""Lexicon mode: replace a reading by the closest word of a word list, when close enough.

The distance is a confidence-weighted edit distance between the reading and a listed word:
substituting or deleting a read character costs ``floor + (1 − floor) · p`` (``p``: its
probability in ``Prediction.chars``), so an unsure character is cheap to change and a sure one
costs nearly 1; inserting a character the reading lacks costs 1. A word is taken only when its
distance is at most ``max_distance``. Matching ignores case (the listed word's case is
returned). For speed on lists of tens of thousands of words, ``rapidfuzz`` first finds the
:data:`CANDIDATES` words nearest in plain edit distance (any word within the weighted limit is
at most ``max_distance / floor`` plain edits away), which the weighted distance then ranks;
ties go to the word listed first (list frequent words first).

Words are normalised with :func:`mstr.text.normalize` (the labels' normalisation). The returned
Prediction has the word as ``text`` and the model's reading in ``lexicon_from`` (None when the
lexicon kept the reading); ``confidence``, ``chars`` and ``topk`` stay the model's.

A lexicon that contains the right word is an optimistic setting (the STR literature's
lexicon-constrained benchmarks); see docs/decoding.md for measured effects.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

from mstr.errors import UserError
from mstr.scripts import script_of
from mstr.text import normalize

__all__ = ["Lexicon", "as_lexicon", "weighted_distance", "DEFAULT_MAX_DISTANCE", "DEFAULT_FLOOR", "CANDIDATES"]

#: the largest weighted distance at which a listed word replaces the reading: below 1, so only
#: characters read with little confidence change (a substitution costs 0.25 + 0.75·p, an insertion 1).
#: Chosen on the English dev splits with v5 (docs/decoding.md): with a frequency list that mostly
#: lacks the answers, 0.75 is the best limit (ICDAR15 +1.8, IIIT5K ±0); 1.5, best for v4, cost 9 points.
DEFAULT_MAX_DISTANCE = 0.75
#: the cost of changing a character read with probability 0
DEFAULT_FLOOR = 0.25
#: words ranked by the weighted distance after the plain edit-distance prefilter
CANDIDATES = 32


def _import_rapidfuzz() -> Any:
    try:
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein
    except ImportError:
        raise UserError("the lexicon mode needs rapidfuzz: pip install 'mstr[lexicon]' "
                        "(or pip install rapidfuzz)") from None
    return process, Levenshtein


def _fold(text: str) -> str:
    """Lower-case, one code point for one (characters whose lower case is longer stay)."""
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def weighted_distance(read: str, probs: Sequence[float], word: str, floor: float = DEFAULT_FLOOR) -> float:
    """The confidence-weighted edit distance from ``read`` (per-character probabilities
    ``probs``) to ``word`` (module docstring)."""
    cost = [floor + (1.0 - floor) * min(max(float(p), 0.0), 1.0) for p in probs]
    prev = [float(j) for j in range(len(word) + 1)]  # from the empty reading: insertions
    for i, ch in enumerate(read):
        row = [prev[0] + cost[i]]
        for j, w in enumerate(word):
            row.append(min(prev[j + 1] + cost[i],                           # delete read[i]
                           row[j] + 1.0,                                    # insert word[j]
                           prev[j] + (0.0 if ch == w else cost[i])))        # keep / substitute
        prev = row
    return prev[-1]


class Lexicon:
    """A word list to correct readings with (module docstring)."""

    def __init__(self, words: Iterable[str], *, max_distance: float = DEFAULT_MAX_DISTANCE,
                 floor: float = DEFAULT_FLOOR, source: str = "lexicon") -> None:
        if not 0.0 < floor <= 1.0:
            raise UserError(f"lexicon floor must be in (0, 1], got {floor}")
        if max_distance < 0:
            raise UserError(f"lexicon max_distance must be at least 0, got {max_distance}")
        self._process, self._lev = _import_rapidfuzz()
        self.words = list(dict.fromkeys(w for w in (normalize(x) for x in words) if w))
        if not self.words:
            raise UserError(f"{source} holds no word: give one word per line")
        self.keys = [_fold(w) for w in self.words]
        self._first: dict[str, int] = {}
        for i, k in enumerate(self.keys):
            self._first.setdefault(k, i)
        self.max_distance, self.floor, self.source = float(max_distance), float(floor), source

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> "Lexicon":
        """One word per line (UTF-8; blank lines skipped)."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"lexicon {path} does not exist; give a text file with one word per line")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read the lexicon {path} ({exc}); give a UTF-8 file, one word per line") from None
        return cls(lines, source=str(path), **kwargs)

    def __len__(self) -> int:
        return len(self.words)

    def match(self, text: str, probs: Sequence[float]) -> tuple[str, float] | None:
        """The listed word closest to the reading ``text`` (per-character ``probs``) and its
        weighted distance, or None when none is within ``max_distance``."""
        key = _fold(text)
        if key in self._first:
            return self.words[self._first[key]], 0.0
        if len(probs) != len(text):
            probs = [1.0] * len(text)
        bound = int(self.max_distance / self.floor)
        found = self._process.extract(key, self.keys, scorer=self._lev.distance, limit=CANDIDATES,
                                      score_cutoff=bound)
        best: tuple[float, int] | None = None
        for _, _, i in found:
            d = weighted_distance(key, probs, self.keys[i], self.floor)
            if d <= self.max_distance and (best is None or (d, i) < best):
                best = (d, i)
        return None if best is None else (self.words[best[1]], best[0])

    def correct(self, prediction: Any) -> Any:
        """``prediction`` with the closest listed word as ``text`` (its reading in
        ``lexicon_from``), or unchanged (no word near enough, an exact match, no text)."""
        if prediction.error or not prediction.text:
            return prediction
        found = self.match(prediction.text, [p for _, p in prediction.chars])
        if found is None or _fold(found[0]) == _fold(prediction.text):  # none, or the reading itself
            return prediction
        votes = Counter(s for s in map(script_of, found[0]) if s not in ("Zyyy", "Zzzz"))
        script = votes.most_common(1)[0][0] if votes else None
        return dataclasses.replace(prediction, text=found[0], script=script, lexicon_from=prediction.text)

    def correct_all(self, predictions: Iterable[Any]) -> list[Any]:
        return [self.correct(p) for p in predictions]


def as_lexicon(lexicon: "Lexicon | str | Path | None") -> "Lexicon | None":
    """A :class:`Lexicon`, loading a path (None stays None)."""
    if lexicon is None or isinstance(lexicon, Lexicon):
        return lexicon
    if isinstance(lexicon, (str, Path)):
        return Lexicon.load(lexicon)
    raise UserError(f"lexicon must be a Lexicon or the path of a word list, got {type(lexicon).__name__}")

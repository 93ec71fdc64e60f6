"""End-to-end word scores of whole-photo reading: precision, recall and F against known words.

A found word counts as correct when its polygon overlaps an unmatched true word's by
intersection-over-union at least ``min_iou`` (default 0.5) and its text equals that word's after
:func:`mstr.text.normalize` (exact, case included). Each true word is matched at most once,
greedily by IoU. Precision = correct / found, recall = correct / true, F = their harmonic mean.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mstr.text import normalize

__all__ = ["WordScore", "match_words"]


@dataclass
class WordScore:
    """Counts of an end-to-end match: ``correct`` of ``found`` found words and ``true`` true words."""

    correct: int = 0
    found: int = 0
    true: int = 0

    def __add__(self, other: "WordScore") -> "WordScore":
        return WordScore(self.correct + other.correct, self.found + other.found, self.true + other.true)

    @property
    def precision(self) -> float:
        return self.correct / self.found if self.found else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.true if self.true else 0.0

    @property
    def f_score(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def match_words(found: Sequence[tuple[str, Sequence[Sequence[float]]]],
                true: Sequence[tuple[str, Sequence[Sequence[float]]]], min_iou: float = 0.5) -> WordScore:
    """Score ``found`` words against ``true`` ones; each is ``(text, 4 (x, y) corners)``."""
    from mstr.detect.geometry import quad_iou

    def quad(p: Sequence[Sequence[float]]) -> np.ndarray:
        """The corners in one turning order (by angle about their centre), whatever their start."""
        q = np.asarray(p, dtype=float)
        d = q - q.mean(axis=0)
        return q[np.argsort(np.arctan2(d[:, 1], d[:, 0]))]

    fq, tq = [quad(p) for _, p in found], [quad(p) for _, p in true]
    pairs = sorted(((quad_iou(a, b), i, j) for i, a in enumerate(fq) for j, b in enumerate(tq)), reverse=True)
    used_f, used_t, correct = set(), set(), 0
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if i in used_f or j in used_t:
            continue
        used_f.add(i)
        used_t.add(j)
        correct += normalize(found[i][0]) == normalize(true[j][0])
    return WordScore(correct, len(found), len(true))

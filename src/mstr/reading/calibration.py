"""Calibrated word confidence: one power ``a`` fitted per bundle, ``confidence = raw ** a``.

A reading's raw confidence is the product of its characters' probabilities and the end-of-word
probability (:func:`mstr.reading.decode.cut_at_eos`). Trained with label smoothing, a Spotter
rarely gives one position more than about 0.95, so a right eight-character reading scores about
0.6: the raw confidence ranks readings well but is too low (the expected calibration error of
the v5 model on its dev sets is 25–32 points). Raising it to a power ``a < 1`` keeps the ranking
and moves it towards the share of right readings; ``a`` is fitted by :func:`fit_power` (least
binary cross-entropy between the confidence and the reading being right) on readings the model
was not trained on, and stored in the bundle's ``config.json``::

    "calibration": {"confidence_power": 0.31, "fitted_on": "...", "samples": 2400}

(``tools/calibrate.py`` fits and writes it). Only the reported confidence changes: every decision
inside the reader (the Refiner's policies and gates, the script-consistency margin, the lexicon)
works on the raw probabilities.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from mstr.errors import UserError

__all__ = ["confidence_power", "fit_power", "POWER_RANGE"]

#: the powers :func:`fit_power` searches, and that a bundle may carry
POWER_RANGE = (0.01, 10.0)


def confidence_power(config: dict[str, Any], where: str | Path = "config.json") -> float:
    """The bundle's confidence power (1.0 when it has no ``calibration``); a malformed value is a
    UserError naming ``where``."""
    section = config.get("calibration")
    if section is None:
        return 1.0
    value = section.get("confidence_power") if isinstance(section, dict) else None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not POWER_RANGE[0] <= value <= POWER_RANGE[1]:
        raise UserError(f"{where}: calibration.confidence_power must be a number in "
                        f"[{POWER_RANGE[0]}, {POWER_RANGE[1]}], found {value!r}; delete the 'calibration' "
                        "section or refit it with tools/calibrate.py")
    return float(value)


def _loss(power: float, conf: Sequence[float], right: Sequence[bool]) -> float:
    eps = 1e-6
    total = 0.0
    for c, r in zip(conf, right):
        p = min(max(max(c, eps) ** power, eps), 1 - eps)
        total -= math.log(p) if r else math.log(1 - p)
    return total / max(len(conf), 1)


def fit_power(conf: Sequence[float], right: Sequence[bool]) -> float:
    """The power ``a`` in :data:`POWER_RANGE` minimising the mean binary cross-entropy of
    ``conf ** a`` against ``right`` (golden-section search on ``log a``; the loss is unimodal
    there). Raises ValueError for empty input or when every reading is right or every one wrong
    (no power fits that)."""
    if len(conf) != len(right) or not conf:
        raise ValueError("fit_power needs as many confidences as right/wrong flags, at least one")
    if all(right) or not any(right):
        raise ValueError("fit_power needs both right and wrong readings")
    lo, hi = math.log(POWER_RANGE[0]), math.log(POWER_RANGE[1])
    golden = (math.sqrt(5) - 1) / 2
    a, b = hi - golden * (hi - lo), lo + golden * (hi - lo)
    fa, fb = _loss(math.exp(a), conf, right), _loss(math.exp(b), conf, right)
    for _ in range(60):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - golden * (hi - lo)
            fa = _loss(math.exp(a), conf, right)
        else:
            lo, a, fa = a, b, fb
            b = lo + golden * (hi - lo)
            fb = _loss(math.exp(b), conf, right)
    return round(math.exp((lo + hi) / 2), 4)

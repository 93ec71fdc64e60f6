"""Fit a bundle's word-confidence calibration (:mod:`mstr.reading.calibration`) from an evaluation.

    mstr eval --bundle B --lmdb runs/data/calib --out runs/calib          # readings the model was not trained on
    python tools/calibrate.py --bundle B --predictions runs/calib/predictions.jsonl [--write]

Reads the ``confidence`` and ``correct`` fields of ``mstr eval``'s predictions, undoes the power
the bundle had when they were made (so refitting is safe), fits the power with the least binary
cross-entropy (:func:`~mstr.reading.calibration.fit_power`) and prints the expected calibration
error before and after on those readings. ``--write`` stores it in ``B/config.json``
(``"calibration": {"confidence_power", "fitted_on", "samples", "ece_before", "ece_after"}``; the
weights and their checksums are untouched). Fit on readings the model was not trained on, and
report the calibration error on other ones (the dev sets).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_pairs(path: Path) -> list[tuple[float, bool]]:
    """``(confidence, correct)`` of each prediction line (lines with an ``error`` are skipped)."""
    from mstr.errors import UserError

    pairs = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc}); give the predictions.jsonl of 'mstr eval --out'") from None
    for n, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            if row.get("error"):
                continue
            pairs.append((float(row["confidence"]), bool(row["correct"])))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise UserError(f"{path} line {n} is not an 'mstr eval' prediction (needs confidence and correct)") from None
    if not pairs:
        raise UserError(f"{path} holds no prediction to fit on")
    return pairs


def main(argv: list[str] | None = None) -> int:
    from mstr.bundle import read_config
    from mstr.errors import UserError
    from mstr.eval.metrics import expected_calibration_error
    from mstr.reading.calibration import confidence_power, fit_power

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, required=True, help="the bundle the predictions were read with")
    ap.add_argument("--predictions", type=Path, required=True, help="predictions.jsonl of 'mstr eval --out'")
    ap.add_argument("--write", action="store_true", help="store the fitted power in the bundle's config.json")
    ap.add_argument("--about", default=None,
                    help="what the readings are, stored as 'fitted_on' (default: the predictions path)")
    a = ap.parse_args(argv)
    try:
        cfg = read_config(a.bundle)
        old = confidence_power(cfg, a.bundle / "config.json")
        pairs = read_pairs(a.predictions)
        raw = [(c ** (1.0 / old), ok) for c, ok in pairs]
        try:
            power = fit_power([c for c, _ in raw], [ok for _, ok in raw])
        except ValueError as exc:
            raise UserError(f"{a.predictions}: {exc}; fit on a set the model reads partly wrong") from None
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    before = expected_calibration_error(raw)
    after = expected_calibration_error([(c ** power, ok) for c, ok in raw])
    right = sum(ok for _, ok in raw)
    print(f"{len(raw)} readings, {100 * right / len(raw):.2f} % right; mean raw confidence "
          f"{sum(c for c, _ in raw) / len(raw):.3f}")
    print(f"confidence power {power} (was {old}): ECE {before:.2f} -> {after:.2f} points on these readings")
    if a.write:
        cfg["calibration"] = {"confidence_power": power, "fitted_on": a.about or str(a.predictions), "samples": len(raw),
                              "ece_before": round(before, 2), "ece_after": round(after, 2)}
        path = a.bundle / "config.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        print(f"wrote calibration to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Word-confidence calibration: the fitted power (mstr.reading.calibration), applied by every reader of a
bundle that carries one, checked on load, and fitted from `mstr eval` predictions by tools/calibrate.py."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import noise_png, tiny_bundle, tool_module

import mstr
from mstr.errors import UserError
from mstr.eval.metrics import expected_calibration_error
from mstr.reading.calibration import confidence_power, fit_power


def _draws(true_power: float, n: int = 6000, seed: int = 0) -> tuple[list[float], list[bool]]:
    """Raw confidences whose chance of being right is raw ** true_power."""
    g = np.random.default_rng(seed)
    raw = g.uniform(0.02, 1.0, n)
    right = g.uniform(0, 1, n) < raw ** true_power
    return raw.tolist(), right.tolist()


@pytest.mark.parametrize("true_power", [0.3, 1.0, 2.0])
def test_fit_power_finds_the_power_that_made_the_data(true_power):
    raw, right = _draws(true_power)
    power = fit_power(raw, right)
    assert power == pytest.approx(true_power, rel=0.1)
    before = expected_calibration_error(zip(raw, right))
    after = expected_calibration_error(zip([c ** power for c in raw], right))
    assert after < 3.0 and (true_power == 1.0 or after < before)


def test_fit_power_refuses_what_no_power_fits():
    with pytest.raises(ValueError, match="both right and wrong"):
        fit_power([0.2, 0.9], [True, True])
    with pytest.raises(ValueError, match="at least one"):
        fit_power([], [])


def test_the_bundle_power_is_checked_and_defaults_to_none():
    assert confidence_power({}) == 1.0
    assert confidence_power({"calibration": {"confidence_power": 0.4}}) == 0.4
    for bad in ({"confidence_power": -1}, {"confidence_power": "0.4"}, {"confidence_power": float("nan")},
                {"power": 0.4}, [0.4], {"confidence_power": True}):
        with pytest.raises(UserError, match="calibration.confidence_power") as info:
            confidence_power({"calibration": bad}, "B/config.json")
        assert str(info.value).startswith("B/config.json") and "tools/calibrate.py" in str(info.value)


def _set_calibration(folder, value) -> None:
    path = folder / "config.json"
    cfg = json.loads(path.read_text(encoding="utf-8"))
    cfg["calibration"] = value
    path.write_text(json.dumps(cfg), encoding="utf-8")


def test_a_calibrated_bundle_reports_raw_confidence_to_its_power(tmp_path):
    folder = tiny_bundle(tmp_path / "b", refiner=False)
    crops = [noise_png((60 + 10 * s, 32), rng=s) for s in range(6)]
    plain = mstr.load(folder, bf16=False).read(crops)
    _set_calibration(folder, {"confidence_power": 0.25})
    calibrated = mstr.load(folder, bf16=False)
    assert calibrated.confidence_power == 0.25
    got = calibrated.read(crops)
    assert [p.text for p in got] == [p.text for p in plain]                      # readings unchanged
    assert [p.confidence for p in got] == pytest.approx([p.confidence ** 0.25 for p in plain], rel=1e-6)
    assert [p.chars for p in got] == [p.chars for p in plain]                    # per-character probabilities too
    _set_calibration(folder, {"confidence_power": 0})
    with pytest.raises(UserError, match="config.json: calibration.confidence_power"):
        mstr.load(folder)


def test_the_tool_fits_from_eval_predictions_and_refits_from_calibrated_ones(tmp_path, capsys):
    folder = tiny_bundle(tmp_path / "b", refiner=False)
    raw, right = _draws(0.5)
    preds = tmp_path / "predictions.jsonl"
    preds.write_text("".join(json.dumps({"confidence": c, "correct": r, "error": None}) + "\n"
                             for c, r in zip(raw, right)) + json.dumps({"error": "unreadable"}) + "\n")
    with tool_module("calibrate") as tool:
        assert tool.main(["--bundle", str(folder), "--predictions", str(preds), "--write"]) == 0
        first = json.loads((folder / "config.json").read_text())["calibration"]
        assert first["confidence_power"] == pytest.approx(0.5, rel=0.1) and first["samples"] == len(raw)
        assert first["ece_after"] < first["ece_before"]
        assert mstr.load(folder).confidence_power == first["confidence_power"]   # the checksums still hold
        # predictions made by the calibrated bundle: the tool undoes its power, so the fit is the same
        p = first["confidence_power"]
        preds.write_text("".join(json.dumps({"confidence": c ** p, "correct": r}) + "\n" for c, r in zip(raw, right)))
        assert tool.main(["--bundle", str(folder), "--predictions", str(preds), "--write"]) == 0
        assert json.loads((folder / "config.json").read_text())["calibration"]["confidence_power"] == \
            pytest.approx(p, abs=2e-3)
        preds.write_text("not json\n")
        assert tool.main(["--bundle", str(folder), "--predictions", str(preds)]) == 2
    assert "line 1 is not an 'mstr eval' prediction" in capsys.readouterr().err


def test_an_onnx_export_keeps_the_calibration(tmp_path):
    import mstr.cli.main as cli_main

    folder = tiny_bundle(tmp_path / "b", refiner=False)
    _set_calibration(folder, {"confidence_power": 0.5})
    assert cli_main.main(["export", "onnx", "--bundle", str(folder), "--out", str(tmp_path / "e")]) == 0
    crops = [noise_png((80, 32), rng=s) for s in range(4)]
    onnx = mstr.load(tmp_path / "e", backend="onnx")
    assert onnx.confidence_power == 0.5
    torch_preds = mstr.load(folder, bf16=False).read(crops)
    assert [p.confidence for p in onnx.read(crops)] == pytest.approx([p.confidence for p in torch_preds], abs=1e-3)
    _set_calibration(tmp_path / "e", {"confidence_power": "high"})
    with pytest.raises(UserError, match="e/config.json: calibration.confidence_power"):
        mstr.load(tmp_path / "e", backend="onnx")

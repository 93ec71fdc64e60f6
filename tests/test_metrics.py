"""Hand-computed tests of the word metrics (DESIGN.md §3)."""
from __future__ import annotations

import itertools
import json
import random

import pytest

from mstr.eval.metrics import (aggregate, apply_convention, edit_distance, english_benchmark,
                               format_table, score_sample, table)

DEVA_QA = "\u0958"  # क़ precomposed
DEVA_QA_NFKD = "\u0915\u093c"  # क + nukta
TAMIL_O = "\u0b95\u0bca"  # கொ with the precomposed vowel sign ொ
TAMIL_O_NFKD = "\u0b95\u0bc6\u0bbe"  # க + ெ + ா


def _reference_distance(a: str, b: str) -> int:
    """Textbook full-matrix Levenshtein, to cross-check the two-row version."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i, j in itertools.product(range(1, len(a) + 1), range(1, len(b) + 1)):
        d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return d[len(a)][len(b)]


def test_edit_distance_known_values():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("flaw", "lawn") == 2
    assert edit_distance("", "abc") == 3
    assert edit_distance("abc", "") == 3
    assert edit_distance("", "") == 0
    assert edit_distance("BMW", "BMW") == 0
    assert edit_distance("BNW", "BMW") == 1
    # code points, not graphemes: क़ (2 code points after NFKD) vs क is one deletion
    assert edit_distance(DEVA_QA_NFKD, "\u0915") == 1


def test_edit_distance_matches_reference_and_is_symmetric():
    rng = random.Random(0)
    for _ in range(300):
        a = "".join(rng.choice("abcक़ि") for _ in range(rng.randint(0, 8)))
        b = "".join(rng.choice("abcक़ि") for _ in range(rng.randint(0, 8)))
        assert edit_distance(a, b) == _reference_distance(a, b) == edit_distance(b, a)


def test_score_sample_normalises_both_sides():
    # precomposed and decomposed spellings are the same word
    assert score_sample(DEVA_QA + "लम", DEVA_QA_NFKD + "लम").correct
    assert score_sample(TAMIL_O_NFKD, TAMIL_O).correct
    s = score_sample(TAMIL_O, TAMIL_O_NFKD)
    assert (s.ed, s.len_gt, s.len_pred) == (0, 3, 3)  # lengths counted after NFKD
    # whitespace is ignored
    assert score_sample("ab c", "abc").correct
    assert score_sample("a\tb\n", " a b").correct
    # क़लम has 4 code points after NFKD; कलम misses the nukta: ED 1
    s = score_sample("कलम", DEVA_QA + "लम")
    assert (s.ed, s.len_gt, s.len_pred, s.correct) == (1, 4, 3, False)
    assert s.ned == pytest.approx(1 / 4)


def test_english_benchmark_convention():
    assert english_benchmark("Hello!") == "hello"
    assert english_benchmark("café") == "cafe"  # NFKD splits off the accent, which is dropped
    assert english_benchmark("A-1 b") == "a1b"
    assert score_sample("hello", "Hello!", convention="en-benchmark").correct
    assert not score_sample("hello", "Hello!").correct  # default: case and "!" count
    assert score_sample("CAFE", "café", convention="en-benchmark").correct
    assert apply_convention(" Ab ", "default") == "Ab"
    with pytest.raises(ValueError, match="unknown convention"):
        apply_convention("x", "nope")


def test_aggregate_hand_computed():
    samples = [
        score_sample("BMW", "BMW", confidence=0.9, script="Latn", lang="en"),   # ED 0, 1−NED 1
        score_sample("BNW", "BMW", confidence=0.5, script="Latn", lang="en"),   # ED 1, 1−NED 2/3
        score_sample("", "ab", confidence=0.1, script=None, lang="en"),         # ED 2, 1−NED 0
        score_sample("abcd", "abc", confidence=0.7, script="Deva", lang="en"),  # ED 1, 1−NED 3/4
    ]
    m = aggregate(samples)
    assert m["n"] == 4
    assert m["wrr"] == pytest.approx(25.0)  # 1 exact of 4
    # ΣED = 0+1+2+1 = 4, Σlen(gt) = 3+3+2+3 = 11 → 100 × (1 − 4/11) = 63.6363…
    assert m["crr"] == pytest.approx(100 * 7 / 11)
    # mean(1, 2/3, 0, 3/4) = (29/12)/4 = 29/48 → 60.4166…
    assert m["one_minus_ned"] == pytest.approx(100 * 29 / 48)
    assert m["confidence"] == pytest.approx(0.55)  # (0.9+0.5+0.1+0.7)/4
    # ECE, 15 bins: 0.9 (right) bin 13, 0.5 (wrong) bin 7, 0.1 (wrong) bin 1, 0.7 (wrong) bin 10 →
    # (|1 − 0.9| + 0.5 + 0.1 + 0.7) / 4 = 1.4 / 4
    assert m["ece"] == pytest.approx(35.0)
    assert m["label_length"] == pytest.approx(2.75)  # 11/4
    # English is Latn: samples 1 and 2 right, None and Deva wrong → 2/4
    assert m["script_id"] == pytest.approx(50.0)


def test_crr_floor_and_empty_pair():
    # ED 9 on a 1-character label: 1 − 9/1 < 0 → CRR floored at 0; 1−NED = 1 − 9/10
    m = aggregate([score_sample("abcdefghij", "a")])
    assert m["crr"] == 0.0
    assert m["one_minus_ned"] == pytest.approx(10.0)
    assert m["wrr"] == 0.0
    # two empty strings: NED 0 (so 1−NED = 100), and CRR 100 (nothing to get wrong)
    m = aggregate([score_sample("", "")])
    assert (m["wrr"], m["crr"], m["one_minus_ned"]) == (100.0, 100.0, 100.0)
    # no samples: nothing to report
    m = aggregate([])
    assert m["n"] == 0 and m["wrr"] is None and m["crr"] is None
    # unknown language / no confidence: those metrics are left out (None), the rest stays
    m = aggregate([score_sample("a", "a", lang="xx")])
    assert m["script_id"] is None and m["confidence"] is None and m["ece"] is None and m["wrr"] == 100.0


def test_expected_calibration_error_bins():
    from mstr.eval.metrics import expected_calibration_error

    # calibrated: in the 0.8 bin 4 of 5 right, in the 0.2 bin 1 of 5 right → 0
    pairs = [(0.8, True)] * 4 + [(0.8, False)] + [(0.2, True)] + [(0.2, False)] * 4
    assert expected_calibration_error(pairs) == pytest.approx(0.0)
    # the same samples, all right: |5 − 4| + |5 − 1| over 10 → 50 points (underconfident)
    assert expected_calibration_error([(c, True) for c, _ in pairs]) == pytest.approx(50.0)
    # errors in one bin do not cancel errors in another: overconfident 0.9-bin + underconfident 0.1-bin
    assert expected_calibration_error([(0.9, False), (0.1, True)]) == pytest.approx(90.0)
    # confidence 1.0 and 0.0 fall inside the bins; nothing to measure → None
    assert expected_calibration_error([(1.0, True), (0.0, False)]) == pytest.approx(0.0)
    assert expected_calibration_error([]) is None


def test_combined_and_macro_differ_on_unbalanced_languages():
    rows = [
        ("d1", "en", score_sample("ab", "ab", confidence=1.0, script="Latn", lang="en")),
        ("d1", "en", score_sample("cd", "cd", confidence=1.0, script="Latn", lang="en")),
        ("d2", "en", score_sample("ef", "ef", confidence=1.0, script="Latn", lang="en")),
        ("d1", "hi", score_sample("कल", "कम", confidence=0.5, script="Deva", lang="hi")),
    ]
    tbl = table(rows)
    assert [(r.dataset, r.lang, r.n) for r in tbl.rows] == [("d1", "en", 2), ("d1", "hi", 1),
                                                             ("d2", "en", 1)]
    assert tbl.langs == ["en", "hi"]
    c, m = tbl.combined, tbl.macro
    assert c is not None and m is not None
    assert c.n == 4 and m.n == 4
    # Combined pools the 4 samples: 3 exact of 4
    assert c.wrr == pytest.approx(75.0)
    # ΣED = 1, Σlen(gt) = 2+2+2+2 = 8 → 87.5
    assert c.crr == pytest.approx(87.5)
    # mean(1, 1, 1, 1 − 1/2) = 0.875
    assert c.one_minus_ned == pytest.approx(87.5)
    assert c.confidence == pytest.approx(0.875)
    # Macro: en (pooled over d1 and d2) WRR 100, CRR 100, 1−NED 100; hi WRR 0, CRR 50, 1−NED 50
    assert m.wrr == pytest.approx(50.0)
    assert m.crr == pytest.approx(75.0)
    assert m.one_minus_ned == pytest.approx(75.0)
    assert m.confidence == pytest.approx(0.75)  # mean(1.0, 0.5)
    assert c.script_id == m.script_id == pytest.approx(100.0)
    assert c.label_length == m.label_length == pytest.approx(2.0)


def test_format_table_and_json():
    rows = [("cute80", "en", score_sample("BMW", "BMW", confidence=0.9, script="Latn", lang="en")),
            ("cute80", "en", score_sample("BNW", "BMW", confidence=0.5, script="Latn", lang="en")),
            ("cute80", "en", score_sample("", "ab", confidence=0.1, lang="en")),
            ("cute80", "en", score_sample("abcd", "abc", confidence=0.7, script="Latn",
                                          lang="en"))]
    tbl = table(rows)
    text = format_table(tbl)
    lines = text.splitlines()
    assert lines[0].startswith("| Dataset | Lang | # samples | WRR | CRR | 1−NED |")
    assert "| cute80 | en | 4 | 25.00 | 63.64 | 60.42 | 0.55 | 35.00 | 2.75 | 75.00 |" in lines
    assert any(line.startswith("| **Combined** | all | 4 | 25.00 | 63.64") for line in lines)
    assert any(line.startswith("| **Macro (languages)** | 1 langs | 4 | 25.00") for line in lines)
    data = json.loads(json.dumps(tbl.to_dict()))
    assert data["combined"]["crr"] == pytest.approx(100 * 7 / 11)
    assert data["rows"][0]["dataset"] == "cute80"
    assert format_table(data) == text  # the JSON form formats the same
    empty = table([])
    assert empty.combined is None and format_table(empty).count("\n") == 1

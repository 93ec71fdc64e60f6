"""mstr.reading.refine and mstr.reading.refine_policy: the refine settings as one checked value, the
gates, and which reading each policy keeps on constructed logits."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from mstr.bank import EOS_ID
from mstr.reading.decode import cut_at_eos
from mstr.reading.refine import refine_readings, within_one_edit
from mstr.reading.refine_policy import (DEFAULT_REFINE_MODE, DEFAULT_REFINE_POLICY, DEFAULT_REFINE_RATIO,
                                        RefineSettings, resolve_refine_mode)

N = 8        # tokens: 0 = <eos>, 1 = <pad>, 2..7 characters
T = 5        # positions


def logits_for(seq: list[int], sure: float = 6.0) -> torch.Tensor:
    """``1, T, N`` logits that read ``seq`` then EOS with margin ``sure`` per position."""
    out = torch.zeros(1, T, N)
    for t, tok in enumerate(seq + [EOS_ID] * (T - len(seq))):
        out[0, t, tok] = sure
    return out


def reading(seq: list[int], sure: float = 6.0):
    p = logits_for(seq, sure).float().softmax(-1)[0]
    return cut_at_eos(p.argmax(-1).tolist(), p.max(-1).values.tolist())


def run(policy: str, spotter_seq, spotter_sure, refiner_seq, refiner_sure, mode: str = "greedy"):
    """``refine_readings`` for one word whose Spotter reads ``spotter_seq`` and whose Refiner (its
    forced pass and its greedy decoding) reads ``refiner_seq``."""
    s_logits = logits_for(spotter_seq, spotter_sure)
    r_logits = logits_for(refiner_seq, refiner_sure)

    def forced(rows, seqs):
        return r_logits.expand(len(rows), -1, -1)

    def greedy():
        p = r_logits.softmax(-1)[0]
        return [(p.argmax(-1).tolist(), p.max(-1).values.tolist())]

    (chosen,) = refine_readings([reading(spotter_seq, spotter_sure)], s_logits, policy=policy, mode=mode,
                                forced=forced, greedy=greedy, max_len=T)
    return chosen[0]


def test_settings_default_and_are_frozen():
    s = RefineSettings()
    assert (s.policy, s.mode, s.below, s.ratio) == (DEFAULT_REFINE_POLICY, DEFAULT_REFINE_MODE, None,
                                                    DEFAULT_REFINE_RATIO)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.policy = "always"  # type: ignore[misc]
    assert dataclasses.replace(s, mode="greedy").mode == "greedy" and s.mode == DEFAULT_REFINE_MODE


@pytest.mark.parametrize("kwargs,message", [
    (dict(policy="sometimes"), "refine_policy must be one of"),
    (dict(mode="sideways"), "refine_mode must be one of"),
    (dict(below=0.0), "refine_below must be in"), (dict(below=1.5), "refine_below must be in"),
    (dict(ratio=1.0), "refine_ratio must be in"), (dict(ratio=True), "refine_ratio must be in"),
    (dict(ratio="0.2"), "refine_ratio must be in")])
def test_settings_refuse_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RefineSettings(**kwargs)
    with pytest.raises(ValueError, match=message):  # replace checks too
        dataclasses.replace(RefineSettings(), **kwargs)


def test_settings_round_trip_through_load_keywords():
    s = RefineSettings("joint", "parallel", 0.5, None)
    assert s.kwargs() == {"refine_policy": "joint", "refine_mode": "parallel", "refine_below": 0.5,
                          "refine_ratio": None}
    assert RefineSettings.from_kwargs(**s.kwargs()) == s


def test_gates_pick_the_rows_to_refine():
    readings = [([2], [0.99], 0.98), ([3], [0.6], 0.3), ([4, 5], [0.9, 0.9], 0.8)]
    top2 = [[[0.99, 0.005], [0.99, 0.001]],   # no doubt anywhere: skipped by the ratio gate
            [[0.6, 0.3], [0.9, 0.01]],        # doubt at its character
            [[0.9, 0.01], [0.9, 0.01], [0.5, 0.4]]]  # doubt at its end of word
    assert RefineSettings().rows(readings, top2) == [1, 2]
    assert RefineSettings(ratio=None).rows(readings, top2) == [0, 1, 2]
    assert RefineSettings(below=0.5, ratio=None).rows(readings, top2) == [1]
    assert RefineSettings().rows([([2], [0.9], 0.9)], [[[0.9], [0.95]]]) == [0]  # top-1 only: refined


def test_auto_mode_is_parallel_only_with_joint_edit1():
    assert resolve_refine_mode("joint-edit1", "auto") == "parallel"
    assert resolve_refine_mode("joint", "auto") == "greedy"
    assert resolve_refine_mode("always", "parallel") == "parallel"


def test_within_one_edit():
    assert within_one_edit([2, 3, 4], [2, 5, 4]) and within_one_edit([2, 3], [2, 3, 4])
    assert within_one_edit([2, 3, 4], [3, 4]) and within_one_edit([], [2])
    assert not within_one_edit([2, 3, 4], [4, 3, 2]) and not within_one_edit([2], [2, 3, 4])


def test_always_takes_the_refiners_reading():
    assert run("always", [2, 3], 6.0, [2, 4], 1.0) == [2, 4]


def test_confidence_takes_the_refiners_reading_only_when_at_least_as_confident():
    assert run("confidence", [2, 3], 6.0, [2, 4], 1.0) == [2, 3]   # unsure Refiner: the Spotter's
    assert run("confidence", [2, 3], 1.0, [2, 4], 6.0) == [2, 4]   # sure Refiner: its reading


def test_joint_keeps_the_reading_both_models_together_find_likelier():
    # a very sure Refiner outweighs an unsure Spotter, and the other way round
    assert run("joint", [2, 3], 1.0, [2, 4], 8.0) == [2, 4]
    assert run("joint", [2, 3], 8.0, [2, 4], 1.0) == [2, 3]


def test_joint_edit1_refuses_a_reading_more_than_one_edit_away():
    assert run("joint", [2, 3], 1.0, [4, 5, 6], 8.0) == [4, 5, 6]
    assert run("joint-edit1", [2, 3], 1.0, [4, 5, 6], 8.0, mode="greedy") == [2, 3]
    assert run("joint-edit1", [2, 3], 1.0, [4, 5, 6], 8.0, mode="parallel") == [2, 3]


def test_joint_edit1_parallel_finds_the_greedy_one_edit_reading():
    for refined in ([2, 4], [2, 3, 5], [2]):            # substitution, insertion, deletion
        assert run("joint-edit1", [2, 3], 1.0, refined, 8.0, mode="parallel") == refined
        assert run("joint-edit1", [2, 3], 1.0, refined, 8.0, mode="greedy") == refined


def test_a_refiner_agreeing_with_the_spotter_changes_nothing():
    for policy in ("always", "joint", "joint-edit1", "confidence"):
        assert run(policy, [2, 3], 6.0, [2, 3], 6.0, mode="parallel") == [2, 3]
    assert math.isfinite(reading([2, 3])[2])

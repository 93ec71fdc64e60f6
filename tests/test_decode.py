"""mstr.reading.decode: Spotter decoding, the end-of-sequence cut, sequence log-probabilities and the
one Prediction builder, on constructed logits."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mstr.bank import EOS_ID, PAD_ID, bank_entries, build_bank
from mstr.reading.decode import cut_at_eos, log_probs, sequence_logprob, spotter_decode, to_predictions


@pytest.fixture(scope="module")
def bank():
    torch.manual_seed(0)
    entries = bank_entries(["en"])
    return build_bank(entries, F.normalize(torch.randn(len(entries), 8), dim=-1))


def row_of(bank, char: str) -> int:
    return next(i for i, e in enumerate(bank.entries) if e.token == char)


def peaked(n: int, rows: list[int], high: float = 8.0) -> torch.Tensor:
    """``1, len(rows), n`` logits with ``rows[t]`` the clear argmax at position ``t``."""
    logits = torch.zeros(1, len(rows), n)
    for t, r in enumerate(rows):
        logits[0, t, r] = high
    return logits


def test_cut_stops_at_the_first_eos_and_counts_its_probability():
    ids, probs, conf = cut_at_eos([5, 6, EOS_ID, 7, EOS_ID], [0.9, 0.8, 0.5, 0.99, 0.99])
    assert ids == [5, 6] and probs == [0.9, 0.8]
    assert conf == pytest.approx(0.9 * 0.8 * 0.5)          # the EOS probability is in the confidence
    assert cut_at_eos([EOS_ID, 5], [0.7, 0.9]) == ([], [], 0.7)
    # no EOS at all: every position is a character
    assert cut_at_eos([5, 6], [0.5, 0.5]) == ([5, 6], [0.5, 0.5], 0.25)


def test_spotter_decode_never_outputs_pad():
    logits = torch.zeros(2, 3, 6)
    logits[..., PAD_ID] = 100.0                             # pad would win everywhere
    logits[..., 4] = 1.0
    ids, p, top_i, top_p = spotter_decode(logits, 3)
    assert (ids == 4).all() and (top_i != PAD_ID).all()
    assert top_i.shape == (2, 3, 3) and bool((top_p.sum(-1) <= 1.0 + 1e-6).all())
    assert torch.allclose(p, top_p[..., 0]) and torch.all(top_p[..., :-1] >= top_p[..., 1:])


def test_sequence_logprob_sums_each_position_eos_included():
    torch.manual_seed(1)
    logits = torch.randn(2, 4, 6)
    lp = log_probs(logits)
    seqs = [[3, 4], []]
    got = sequence_logprob(logits, seqs)
    assert got[0].item() == pytest.approx((lp[0, 0, 3] + lp[0, 1, 4] + lp[0, 2, EOS_ID]).item(), abs=1e-6)
    assert got[1].item() == pytest.approx(lp[1, 0, EOS_ID].item(), abs=1e-6)
    # pad is impossible: the same log-probabilities as a softmax without its column
    no_pad = torch.cat([logits[..., :PAD_ID], logits[..., PAD_ID + 1:]], -1).log_softmax(-1)
    assert lp[0, 0, 3].item() == pytest.approx(no_pad[0, 0, 2].item(), abs=1e-6)
    assert lp[0, 0, PAD_ID].item() == -math.inf


def test_sequence_logprob_is_minus_inf_without_room_for_eos():
    logits = torch.zeros(1, 3, 6)
    assert sequence_logprob(logits, [[2, 3, 4]]).item() == -math.inf       # 3 characters + EOS > 3 positions
    assert sequence_logprob(logits, [[2, 3]]).item() > -math.inf


def test_to_predictions_builds_text_chars_and_topk_up_to_the_first_eos(bank):
    a, b = row_of(bank, "a"), row_of(bank, "b")
    logits = peaked(len(bank), [a, b, EOS_ID, a, a])
    ids, p, top_i, top_p = spotter_decode(logits, 3)
    readings = [cut_at_eos(i, q) for i, q in zip(ids.tolist(), p.tolist())]
    (pred,) = to_predictions(bank, readings, top_i, top_p)
    assert pred.text == "ab" and pred.script == "Latn"
    assert [c for c, _ in pred.chars] == ["a", "b"]
    assert pred.confidence == pytest.approx(float(p[0, :3].prod()), rel=1e-6)
    assert len(pred.topk) == 3                                 # a, b and the EOS position; nothing after
    assert pred.topk[2][0][0] == bank.entries[EOS_ID].token
    assert all(len(row) == 3 for row in pred.topk)
    for row in pred.topk:                                      # probabilities rounded to 4 decimals
        assert all(q == round(q, 4) for _, q in row)


def test_to_predictions_keeps_every_position_when_no_eos_and_uses_given_tokens(bank):
    a = row_of(bank, "a")
    logits = peaked(len(bank), [a, a])
    ids, p, top_i, top_p = spotter_decode(logits, 2)
    readings = [cut_at_eos(i, q) for i, q in zip(ids.tolist(), p.tolist())]
    tokens = [f"t{i}" for i in range(len(bank))]
    (pred,) = to_predictions(bank, readings, top_i, top_p, tokens)
    assert len(pred.topk) == 2 and pred.chars[0][0] == f"t{a}" and pred.text == "aa"

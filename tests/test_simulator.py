"""The Spotter-output simulator (mstr.train.simulator): the fake top-K hypotheses the Refiner trains on."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mstr.bank import EOS_ID, bank_entries, build_bank
from mstr.scripts import COMMON_SCRIPT
from mstr.train.simulator import SimulatorConfig, SpotterSimulator
from mstr.train.words import IGNORE

K, L = 4, 10
CLEAN = SimulatorConfig(p_sub=0.0, p_drop_mark=0.0, p_extra_mark=0.0, p_shift=0.0)


@pytest.fixture(scope="module")
def bank():
    e = bank_entries(["en", "hi"])
    return build_bank(e, F.normalize(torch.randn(len(e), 32, generator=torch.Generator().manual_seed(0)), dim=-1))


def _targets(bank, words: list[tuple[str, str]]) -> torch.Tensor:
    y = torch.full((len(words), L), IGNORE)
    for i, (word, lang) in enumerate(words):
        ids = bank.encode(word, lang)[: L - 1] + [EOS_ID]
        y[i, : len(ids)] = torch.tensor(ids)
    return y


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_clean_words_come_back_as_top1_with_high_probability(bank):
    y = _targets(bank, [("cab", "en"), ("नमक", "hi")])
    ids, probs = SpotterSimulator(bank, K, L, CLEAN)(y, _g())
    assert ids.shape == probs.shape == (2, L, K)
    for i in range(2):
        n = int((y[i] != EOS_ID).logical_and(y[i] != IGNORE).sum())
        assert ids[i, :n, 0].tolist() == y[i, :n].tolist()
        assert (ids[i, n:, 0] == EOS_ID).all()
        assert ((probs[i, :n, 0] >= 0.6) & (probs[i, :n, 0] <= 0.99)).all()
        assert ((probs[i, n:, 0] >= 0.8) & (probs[i, n:, 0] <= 1.0)).all()
    assert (probs >= 0).all() and (probs.sum(-1) <= 1.0 + 1e-5).all()


def test_alternatives_are_distinct_neighbours_never_specials_of_the_same_script(bank):
    sim = SpotterSimulator(bank, K, L, CLEAN)
    y = _targets(bank, [("कमल", "hi")])
    ids, _ = sim(y, _g())
    for t in range(3):
        row = ids[0, t].tolist()
        assert len(set(row)) == K
        scripts = {bank.entries[j].script for j in row}
        assert scripts <= {"Deva", COMMON_SCRIPT}
        assert all(bank.entries[j].subtype != "special" for j in row)


def test_substitutions_stay_in_script_and_keep_the_truth_among_the_k(bank):
    cfg = SimulatorConfig(p_sub=1.0, p_drop_mark=0.0, p_extra_mark=0.0, p_shift=0.0, p_true_in_topk=1.0)
    y = _targets(bank, [("मकान", "hi"), ("bead", "en")])
    ids, probs = SpotterSimulator(bank, K, L, cfg)(y, _g(1))
    for i in range(2):
        truth = [t for t in y[i].tolist() if t not in (EOS_ID, IGNORE)]
        for t, true in enumerate(truth):
            top = int(ids[i, t, 0])
            assert top != true and true in ids[i, t].tolist()
            assert bank.entries[top].script in (bank.entries[true].script, COMMON_SCRIPT)
            assert 0.25 <= float(probs[i, t, 0]) <= 0.7


def test_same_generator_same_output_and_long_words_are_cut(bank):
    sim = SpotterSimulator(bank, K, L, SimulatorConfig(p_sub=0.5, p_shift=0.5, p_drop_mark=0.5, p_extra_mark=0.5))
    y = _targets(bank, [("किताबें", "hi"), ("abcdefghijklmnop", "en")])
    a, b, c = sim(y, _g(3)), sim(y, _g(3)), sim(y, _g(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not (torch.equal(a[0], c[0]) and torch.equal(a[1], c[1]))
    assert int(a[0][1, L - 1, 0]) == EOS_ID  # at most L - 1 characters, then the end

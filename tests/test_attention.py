"""The decoder layers restated as plain products (mstr.models.attention), which the Spotter and
the Refiner read with in eval mode, against nn.TransformerDecoder, which they train with."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from mstr.models.attention import restatable
from mstr.models.spotter import PositionDecoder


def decoder(causal: bool, seed: int = 0) -> PositionDecoder:
    torch.manual_seed(seed)
    dec = PositionDecoder(d_model=32, heads=4, layers=2, causal=causal, dropout=0.0)
    with torch.no_grad():  # weights far from initialisation, so that every part matters
        for p in dec.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return dec


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shared_queries", [False, True])
def test_eval_mode_restates_the_training_decoder(causal, shared_queries):
    dec = decoder(causal)
    g = torch.Generator().manual_seed(1)
    memory = torch.randn(5, 11, 32, generator=g)
    if shared_queries:  # the Spotter's learned queries, broadcast over the batch
        q = torch.randn(1, 7, 32, generator=g).expand(5, -1, -1)
    else:
        q = torch.randn(5, 7, 32, generator=g)
    with torch.no_grad():
        expected = dec.train()(q, memory)       # nn.TransformerDecoder (dropout 0)
        got = dec.eval()(q, memory)             # the restatement
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()
    # the causal mask matters: a later query must not change an earlier position's output
    q2 = q.clone()
    q2[:, -1] += torch.randn(32, generator=g)  # (not a constant: LayerNorm would remove it)
    with torch.no_grad():
        moved = dec.eval()(q2, memory)
    assert torch.allclose(moved[:, :-1], got[:, :-1], atol=1e-6) == causal


def test_rows_do_not_leak_into_each_other():
    dec = decoder(False).eval()
    q = torch.randn(1, 6, 32).expand(4, -1, -1)
    memory = torch.randn(4, 9, 32)
    with torch.no_grad():
        together = dec(q, memory)
        alone = torch.cat([dec(q[i:i + 1], memory[i:i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)
    assert not torch.allclose(together[0], together[1], atol=1e-3)  # the memory makes rows differ


def test_a_decoder_it_cannot_restate_runs_the_module():
    dec = decoder(False).eval()
    dec.layers.norm = nn.LayerNorm(32)          # a final norm inside the stack: not restated
    assert not restatable(dec.layers)
    q, memory = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    with torch.no_grad():
        assert torch.allclose(dec(q, memory), dec.train()(q, memory), atol=1e-5)

"""Fine-tuning at another input size: ``init_image_size`` resamples the Spotter's position embeddings."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mstr.errors import UserError
from mstr.models.spotter import Spotter, SpotterConfig
from mstr.train.spotter_task import with_image_size


def _spotter() -> Spotter:
    torch.manual_seed(0)
    cfg = SpotterConfig(dim=16, d_model=32, widths=(8, 8, 16, 16), image_size=(32, 128), max_len=6, dec_layers=1, heads=2)
    return Spotter(cfg, F.normalize(torch.randn(10, 16), dim=-1)).eval()


def test_wider_input_keeps_every_weight_and_resamples_the_position_grid():
    old = _spotter()
    rows, cols = old.tokens.shapes[0]
    with torch.no_grad():   # a grid that varies along the columns only, linearly
        ramp = torch.linspace(-1, 1, cols)[None, :, None].expand(rows, cols, 32)
        old.tokens.pos[0].copy_(ramp.reshape(rows * cols, 32))
    new = with_image_size(old, [32, 192])
    assert new.cfg.image_size == (32, 192) and not new.training
    assert [tuple(p.shape) for p in new.tokens.pos] == [(h * w, 32) for h, w in new.tokens.shapes]
    assert new.tokens.shapes[0][1] == cols * 3 // 2
    grid = new.tokens.pos[0].reshape(*new.tokens.shapes[0], 32)
    assert torch.all(grid[:, 1:] >= grid[:, :-1] - 1e-6)        # still a ramp along the columns
    assert grid.min() >= -1 - 1e-6 and grid.max() <= 1 + 1e-6        # of the same range
    assert abs(grid[0, 0, 0].item() - ramp[0, 0, 0].item()) < 0.1
    same = {k for k in old.state_dict() if not k.startswith("tokens.pos")}
    assert all(torch.equal(old.state_dict()[k], new.state_dict()[k]) for k in same)
    assert torch.equal(new.bank, old.bank) and torch.equal(new.never, old.never)
    out = new(torch.rand(2, 3, 32, 192))
    assert out.logits.shape == (2, 6, 10)
    assert with_image_size(old, (32, 128)) is old                      # the same size: nothing to do


@pytest.mark.parametrize("bad", [[32], "wide", [8, 64], [32, 16], None])
def test_bad_sizes_are_one_line_errors(bad):
    with pytest.raises(UserError, match="init_image_size"):
        with_image_size(_spotter(), bad)

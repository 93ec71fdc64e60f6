"""The fast torch inference path: the Refiner's cached greedy decoder against full recomputation,
the ONNX step graphs built on the same code, and the Recognizer's BatchNorm-folded Spotter."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mstr.bank import EOS_ID, PAD_ID, bank_entries, build_bank
from mstr.models.refiner import Refiner, RefinerConfig
from mstr.models.spotter import Spotter, SpotterConfig
from mstr.onnx_graphs import RefinerMemoryGraph, RefinerStepGraph, greedy_loop, refiner_dims
from mstr.recognizer import Recognizer, fold_batchnorm

CHANNELS = (8, 16, 16)


def tiny_refiner(n_tokens: int, *, layers: int, heads: int, max_len: int = 10, seed: int = 0) -> Refiner:
    """A random Refiner over a random bank of ``n_tokens`` entries (``<eos>`` = 0, ``<pad>`` = 1).

    At initialisation every row reads the same (near-uniform attention, tiny position embeddings);
    larger position embeddings and decoder weights make the readings depend on the memory and the
    prefix, so that rows emit ``<eos>`` at different steps."""
    torch.manual_seed(seed)
    bank = F.normalize(torch.randn(n_tokens, 32), dim=-1)
    cfg = RefinerConfig(dim=32, d_model=32, layers=layers, heads=heads, max_len=max_len, channels=CHANNELS)
    ref = Refiner(cfg, bank, PAD_ID).eval()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if name in ("bos", "in_pos", "prefix_pos", "prefix_rank"):
                p.normal_(0, 1.0)
            elif name.startswith("decoder.layers") and name.endswith("weight") and "norm" not in name:
                p.mul_(3.0)
    return ref


def random_inputs(refiner: Refiner, batch: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    n = refiner.bank.shape[0]
    L, k = refiner.cfg.max_len, refiner.cfg.topk
    ids = torch.randint(0, n, (batch, L, k), generator=g)
    probs = torch.rand(batch, L, k, generator=g).sort(-1, descending=True).values
    feats = [torch.randn(batch, c, h, w, generator=g) for c, (h, w) in zip(CHANNELS, ((8, 32), (4, 16), (2, 16)))]
    return ids, probs, feats


def finish_steps(ids: torch.Tensor) -> list[int]:
    """Per row: the step of its first ``<eos>`` (the width when none)."""
    return [row.index(EOS_ID) if EOS_ID in row else len(row) for row in ids.tolist()]


def test_cached_greedy_equals_full_recomputation():
    seen_early_stop = seen_full_length = False
    seen_finish_steps: set[int] = set()
    for layers, heads in ((1, 2), (2, 4), (3, 1)):
        for n_tokens in (4, 12, 40):
            ref = tiny_refiner(n_tokens, layers=layers, heads=heads, seed=n_tokens + layers)
            for batch in (1, 2, 5, 16, 33):
                ids_in, p_in, feats = random_inputs(ref, batch, seed=batch + 100 * n_tokens)
                want_ids, want_p = ref.greedy_reference(ids_in, p_in, feats, EOS_ID)
                got_ids, got_p = ref.greedy(ids_in, p_in, feats, EOS_ID)
                assert got_ids.dtype == want_ids.dtype and got_p.dtype == want_p.dtype
                assert torch.equal(got_ids, want_ids), (layers, heads, n_tokens, batch)
                torch.testing.assert_close(got_p, want_p, rtol=1e-4, atol=1e-5)
                assert (got_ids != PAD_ID).all()
                steps = finish_steps(want_ids)
                seen_finish_steps.update(steps)
                seen_early_stop |= want_ids.shape[1] < ref.cfg.max_len
                seen_full_length |= want_ids.shape[1] == ref.cfg.max_len
                # a finished row keeps emitting <eos> with probability 1
                for row, s in enumerate(steps):
                    assert (got_ids[row, s:] == EOS_ID).all() and (got_p[row, s + 1:] == 1).all()
    # the cases exercised: rows finishing at many different steps (or never), batches stopping
    # early (every row finished) and running to max_len
    assert len(seen_finish_steps) >= 6 and seen_early_stop and seen_full_length


def test_refiner_forward_is_teacher_forced_greedy():
    """The teacher-forced logits at the greedy tokens pick those tokens again (forward unchanged)."""
    ref = tiny_refiner(12, layers=2, heads=2)
    ids_in, p_in, feats = random_inputs(ref, 6, seed=3)
    ids, probs = ref.greedy(ids_in, p_in, feats, EOS_ID)
    with torch.no_grad():
        logits = ref(ids_in, p_in, feats, ids[:, :-1])
    p = logits.masked_fill(ref.never, float("-inf")).softmax(-1)
    conf, best = p.max(-1)
    live = torch.cat([torch.ones(6, 1, dtype=torch.bool), ids[:, :-1] != EOS_ID], 1).cumprod(1).bool()
    assert torch.equal(best[live], ids[live])
    torch.testing.assert_close(conf[live], probs[live], rtol=1e-5, atol=1e-6)


def test_onnx_step_graphs_share_the_cached_decoder():
    """The export's torch modules, driven by the numpy greedy loop, read as ``Refiner.greedy``."""
    ref = tiny_refiner(6, layers=2, heads=2)
    ids_in, p_in, feats = random_inputs(ref, 7, seed=5)
    mem_graph, step_graph = RefinerMemoryGraph(ref), RefinerStepGraph(ref)
    with torch.no_grad():
        cross = [c.numpy() for c in mem_graph(ids_in, p_in, *feats)]

        def run_step(feeds):
            out = step_graph(*(torch.from_numpy(np.ascontiguousarray(v)) for v in feeds.values()))
            return [o.numpy() for o in out]

        g_ids, g_p = greedy_loop(run_step, cross, eos_id=EOS_ID, **refiner_dims(ref))
    ids, probs = ref.greedy(ids_in, p_in, feats, EOS_ID)
    assert np.array_equal(g_ids, ids.numpy())
    np.testing.assert_allclose(g_p, probs.numpy(), rtol=1e-5, atol=1e-6)


def test_cached_greedy_runs_under_bf16_autocast():
    ref = tiny_refiner(12, layers=2, heads=2)
    ids_in, p_in, feats = random_inputs(ref, 4, seed=7)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        ids, probs = ref.greedy(ids_in, p_in, feats, EOS_ID)
        _, want_p = ref.greedy_reference(ids_in, p_in, feats, EOS_ID)
    assert ids.shape == probs.shape and ids.shape[1] <= ref.cfg.max_len
    assert probs.dtype == want_p.dtype and ((probs > 0) & (probs <= 1)).all()


def _spotter_with_batchnorm_stats(bank_vectors: torch.Tensor) -> Spotter:
    torch.manual_seed(4)
    s = Spotter(SpotterConfig(dim=32, d_model=32, widths=(8, 8, 16, 16), max_len=10, dec_layers=1, heads=2),
                bank_vectors, PAD_ID)
    for m in s.modules():  # non-trivial running statistics and affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.2)
    return s.eval()


def test_fold_batchnorm_same_outputs_and_original_untouched():
    bank = F.normalize(torch.randn(20, 32), dim=-1)
    s = _spotter_with_batchnorm_stats(bank)
    before = {k: v.clone() for k, v in s.state_dict().items()}
    folded = fold_batchnorm(s)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in s.modules())
    assert s.state_dict().keys() == before.keys()
    assert all(torch.equal(v, before[k]) for k, v in s.state_dict().items())
    x = torch.rand(3, 3, 32, 128) * 2 - 1
    with torch.no_grad():
        want, got = s(x), folded(x)
        got_cl = folded.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    for out in (got, got_cl):
        torch.testing.assert_close(out.logits, want.logits, rtol=1e-4, atol=1e-4)
        for a, b in zip(out.features, want.features):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_recognizer_reads_as_the_unfolded_models():
    from PIL import Image

    from mstr.preprocess import preprocess
    from mstr.recognizer import _cut, spotter_decode

    torch.manual_seed(0)
    entries = bank_entries(["en", "hi"])
    bank = build_bank(entries, F.normalize(torch.randn(len(entries), 32), dim=-1))
    s = _spotter_with_batchnorm_stats(bank.vectors)
    r = Refiner(RefinerConfig(dim=32, d_model=32, layers=2, heads=2, max_len=10, channels=CHANNELS),
                bank.vectors).eval()
    images = [Image.new("RGB", (50 + 13 * i, 32), (25 * i, 90, 200 - 9 * i)) for i in range(9)]
    x = preprocess(images, (32, 128))
    with torch.no_grad():  # the readings spelled out with the caller's modules and the reference greedy
        out = s(x)
        ids, p, top_i, top_p = spotter_decode(out.logits, s.cfg.topk)
        r_ids, r_p = r.greedy_reference(top_i, top_p, out.features, EOS_ID)
    for cl in (False, True):
        rec = Recognizer(s, bank, r, refine_policy="always", channels_last=cl)
        assert rec.spotter is s  # the caller's module is kept, unchanged
        for b, pred in enumerate(rec.read(images, batch_size=4)):
            want_ids, want_p, conf = _cut(r_ids[b].tolist(), r_p[b].tolist())
            assert pred.text == bank.decode(want_ids)
            assert pred.confidence == pytest.approx(conf, rel=1e-4)
            assert [q for _, q in pred.chars] == pytest.approx(want_p, abs=1e-4)
            n_top = len(pred.topk)
            assert [[t for t, _ in row] for row in pred.topk] == [
                [bank.entries[i].token for i in top_i[b, t].tolist()] for t in range(n_top)]
            assert [[q for _, q in row] for row in pred.topk] == [
                pytest.approx(top_p[b, t].tolist(), abs=2e-4) for t in range(n_top)]
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in s.modules())

"""The fast torch inference path: the Refiner's cached greedy decoder against full recomputation,
the ONNX step graphs built on the same code, and the Recognizer's BatchNorm-folded Spotter."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import V4_BUNDLE, striped
import torch
import torch.nn.functional as F

from mstr.bank import EOS_ID, PAD_ID, bank_entries, build_bank
from mstr.models.refiner import Refiner, RefinerConfig
from mstr.models.spotter import Spotter, SpotterConfig
from mstr.onnx.graphs import RefinerMemoryGraph, RefinerStepGraph, greedy_loop, refiner_dims
from mstr.reading.recognizer import Recognizer, bf16_encoder_copy, fold_batchnorm
from mstr.reading.refine_policy import RefineSettings

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
    from mstr.preprocess import preprocess
    from mstr.reading.decode import cut_at_eos, spotter_decode

    torch.manual_seed(0)
    entries = bank_entries(["en", "hi"])
    bank = build_bank(entries, F.normalize(torch.randn(len(entries), 32), dim=-1))
    s = _spotter_with_batchnorm_stats(bank.vectors)
    r = Refiner(RefinerConfig(dim=32, d_model=32, layers=2, heads=2, max_len=10, channels=CHANNELS),
                bank.vectors).eval()
    images = [striped((50 + 13 * i, 32), (25 * i, 90, 200 - 9 * i)) for i in range(9)]
    x = preprocess(images, (32, 128))
    with torch.no_grad():  # the readings spelled out with the caller's modules and the reference greedy
        out = s(x)
        ids, p, top_i, top_p = spotter_decode(out.logits, s.cfg.topk)
        r_ids, r_p = r.greedy_reference(top_i, top_p, out.features, EOS_ID)
    for cl in (False, True):
        rec = Recognizer(s, bank, r, refine=RefineSettings(policy="always"), channels_last=cl)
        assert rec.spotter is s  # the caller's module is kept, unchanged
        for b, pred in enumerate(rec.read(images, batch_size=4)):
            want_ids, want_p, conf = cut_at_eos(r_ids[b].tolist(), r_p[b].tolist())
            assert pred.text == bank.decode(want_ids)
            assert pred.confidence == pytest.approx(conf, rel=1e-4)
            assert [q for _, q in pred.chars] == pytest.approx(want_p, abs=1e-4)
            n_top = len(pred.topk)
            assert [[t for t, _ in row] for row in pred.topk] == [
                [bank.entries[i].token for i in top_i[b, t].tolist()] for t in range(n_top)]
            assert [[q for _, q in row] for row in pred.topk] == [
                pytest.approx(top_p[b, t].tolist(), abs=2e-4) for t in range(n_top)]
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in s.modules())


@pytest.mark.parametrize("encoder", ["resnet", "ppocr-tiny"])
def test_bfloat16_encoder_copy_reads_bit_for_bit_as_autocast(encoder):
    """Storing the encoder's weights in bfloat16 once gives the very numbers autocast gives by
    converting them on every call; the float32 copy and the caller's module keep float32 weights."""
    torch.manual_seed(1)
    bank = F.normalize(torch.randn(20, 32), dim=-1)
    size = (32, 128) if encoder == "resnet" else (48, 96)
    s = (_spotter_with_batchnorm_stats(bank) if encoder == "resnet" else
         Spotter(SpotterConfig(dim=32, d_model=32, max_len=8, image_size=size, encoder=encoder), bank).eval())
    folded = fold_batchnorm(s).to(memory_format=torch.channels_last)
    fast = bf16_encoder_copy(folded, fuse=False)
    convs = [m for m in fast.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.dtype == torch.bfloat16 for m in convs)
    assert all(p.dtype == torch.float32 for p in folded.parameters())
    assert all(p.dtype == torch.float32 for p in s.parameters())
    assert fast.bank.dtype == torch.float32 and fast.head.weight.dtype == torch.float32
    x = (torch.rand(5, 3, *size) * 2 - 1).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        want, got = folded(x), fast(x)
    assert torch.equal(got.logits, want.logits)
    assert all(torch.equal(a, b) for a, b in zip(got.features, want.features))


@pytest.mark.parametrize("variant", ["tiny", "small"])
def test_fused_ppocr_encoder_matches_the_plain_modules(variant):
    from mstr.models.ppocr import PPOCRv6Backbone
    from mstr.reading.fused import fuse_ppocr_encoder, fused_kernels_available

    if not fused_kernels_available():
        pytest.skip("this torch has no fused oneDNN convolutions")
    torch.manual_seed(3)
    plain = PPOCRv6Backbone(variant).eval().to(torch.bfloat16).to(memory_format=torch.channels_last)
    with torch.no_grad():
        for m in plain.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.bias.normal_(0, 0.1)
    fused = __import__("copy").deepcopy(plain)
    assert not fuse_ppocr_encoder(PPOCRv6Backbone(variant))  # float32 weights: left alone
    assert fuse_ppocr_encoder(fused)
    assert sum(type(m).__name__ == "_FusedBlock" for m in fused.modules()) == sum(len(s) for s in fused.stages)
    x = (torch.rand(4, 3, 48, 64) * 2 - 1).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        want, got = plain(x), fused(x)
    for a, b in zip(want, got):
        assert a.shape == b.shape and b.dtype == torch.bfloat16
        scale = a.float().abs().max().item()
        assert (a.float() - b.float()).abs().max().item() <= 0.05 * scale
        cos = F.cosine_similarity(a.float().flatten(1), b.float().flatten(1), dim=1)
        assert cos.min().item() > 0.999


def test_recognizer_reads_bf16_through_the_bfloat16_copy_only_when_bf16():
    torch.manual_seed(2)
    entries = bank_entries(["en"])
    bank = build_bank(entries, F.normalize(torch.randn(len(entries), 32), dim=-1))
    s = _spotter_with_batchnorm_stats(bank.vectors)
    images = [striped((60 + 9 * i, 32), (30 * i, 80, 190)) for i in range(4)]
    rec = Recognizer(s, bank, None, bf16=False)
    fp32 = rec.read(images)
    assert rec._reader_bf16 is None  # float32 reading never makes it
    rec.bf16 = True
    bf16 = rec.read(images)
    assert rec._reader_bf16 is not None
    assert next(rec._reader_bf16.encoder.parameters()).dtype == torch.bfloat16
    assert next(rec._reader.encoder.parameters()).dtype == torch.float32
    rec.bf16 = False
    assert [p.text for p in rec.read(images)] == [p.text for p in fp32]
    assert len(bf16) == len(images)


def test_recognizer_reads_a_ppocr_spotter_in_bf16_with_the_fused_encoder():
    from mstr.reading.fused import fused_kernels_available

    torch.manual_seed(5)
    entries = bank_entries(["en"])
    bank = build_bank(entries, F.normalize(torch.randn(len(entries), 32), dim=-1))
    s = Spotter(SpotterConfig(dim=32, d_model=32, max_len=8, image_size=(48, 96), encoder="ppocr-tiny"),
                bank.vectors).eval()
    images = [striped((70 + 11 * i, 30), (40 * i, 120, 60)) for i in range(3)]
    rec = Recognizer(s, bank, None, bf16=True)
    assert len(rec.read(images)) == len(images)
    stem = type(rec._reader_bf16.encoder.stem).__name__
    assert stem == ("_FusedPlainStem" if fused_kernels_available() else "_PlainStem")
    assert type(rec._reader.encoder.stem).__name__ == "_PlainStem"  # the float32 copy is left plain


# ------------------------------------------------------------------------------------------
# teacher-forced parallel passes (the ``parallel`` refine mode), refine policies, the gate


def test_forced_pass_equals_teacher_forced_forward():
    """``Refiner.forced`` over the projected memory = ``Refiner.forward``, for all rows or a subset."""
    ref = tiny_refiner(12, layers=2, heads=2)
    ids_in, p_in, feats = random_inputs(ref, 6, seed=11)
    prev = torch.randint(2, 12, (6, 5), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        cross = ref.cross_kv(ref.memory(ids_in, p_in, feats))
        torch.testing.assert_close(ref.forced(prev, cross), ref(ids_in, p_in, feats, prev), rtol=1e-4, atol=1e-4)
        rows = torch.tensor([4, 1, 1])
        torch.testing.assert_close(ref.forced(prev[rows], [c[rows] for c in cross]),
                                   ref(ids_in[rows], p_in[rows], [f[rows] for f in feats], prev[rows]),
                                   rtol=1e-4, atol=1e-4)
        assert ref.forced(prev[:, :0], cross).shape == (6, 1, 12)  # BOS only


def _tiny_recognizer(seed: int = 0):
    from mstr.bank import bank_entries, build_bank

    torch.manual_seed(seed)
    entries = bank_entries(["en"])
    bank = build_bank(entries, F.normalize(torch.randn(len(entries), 32), dim=-1))
    s = _spotter_with_batchnorm_stats(bank.vectors)
    r = Refiner(RefinerConfig(dim=32, d_model=32, layers=2, heads=2, max_len=10, channels=CHANNELS),
                bank.vectors).eval()
    with torch.no_grad():  # readings that depend on the prefix and the memory (as in tiny_refiner)
        for name, p in r.named_parameters():
            if name in ("bos", "in_pos", "prefix_pos", "prefix_rank"):
                p.normal_(0, 1.0)
    return s, bank, r


def _images(n: int, seed: int = 0):
    from PIL import Image

    g = np.random.default_rng(seed)
    return [Image.fromarray(g.integers(0, 256, (32, int(g.integers(40, 200)), 3), dtype=np.uint8), "RGB")
            for _ in range(n)]


def test_parallel_mode_reads_the_refiners_teacher_forced_argmax():
    """``parallel`` mode with ``always``: the Refiner's argmax at each position teacher-forced on
    the Spotter's reading (positions 0 … len), cut at its first EOS."""
    from mstr.preprocess import preprocess
    from mstr.reading.decode import cut_at_eos, spotter_decode

    s, bank, r = _tiny_recognizer(1)
    images = _images(10)
    rec = Recognizer(s, bank, r, refine=RefineSettings(policy="always", mode="parallel"))
    got = rec.read(images, batch_size=4)
    x = preprocess(images, (32, 128))
    changed = 0
    with torch.no_grad():
        out = s(x)
        ids, p, top_i, top_p = spotter_decode(out.logits, s.cfg.topk)
        for b in range(len(images)):
            seq = cut_at_eos(ids[b].tolist(), p[b].tolist())[0]
            logits = r(top_i[b:b + 1], top_p[b:b + 1], [f[b:b + 1] for f in out.features],
                       torch.tensor([seq[:r.cfg.max_len - 1]], dtype=torch.long))
            row = logits[0].masked_fill(r.never, float("-inf")).argmax(-1).tolist()[:len(seq) + 1]
            want = row[:row.index(EOS_ID)] if EOS_ID in row else row
            assert got[b].text == bank.decode(want)
            changed += want != seq
    assert changed > 0


def _greedy_model(target: list[int], n_tokens: int = 8):
    """A hand-built autoregressive 'Refiner' over ids 0 (EOS), 1 (pad), 2…: after a prefix of
    ``target`` it predicts target's next character (EOS at its end) with probability ~0.9; after any
    other prefix, a deterministic character of the prefix's hash. Returns the ``forced`` and
    ``greedy`` primitives of :func:`mstr.reading.recognizer.refine_readings` for a batch of one word."""
    def next_logits(prefix: list[int]) -> torch.Tensor:
        logits = torch.zeros(n_tokens)
        if prefix == target[:len(prefix)]:
            want = target[len(prefix)] if len(prefix) < len(target) else EOS_ID
        else:
            want = (sum((i + 3) * t for i, t in enumerate(prefix)) % (n_tokens - 1))
            want = EOS_ID if want == 1 or len(prefix) >= 6 else want
        logits[want] = 4.0
        return logits

    def forced(rows, seqs):
        width = min(max(len(q) for q in seqs), 9) + 1
        return torch.stack([torch.stack([next_logits(q[:t]) for t in range(width)]) for q in seqs])

    def greedy():
        seq, probs = [], []
        for _ in range(10):
            p = next_logits(seq).index_fill(0, torch.tensor([PAD_ID]), float("-inf")).softmax(-1)
            probs.append(float(p.max()))
            seq.append(int(p.argmax()))
            if seq[-1] == EOS_ID:
                break
        return [(seq, probs)]

    return forced, greedy


def _spotter_logits(seq: list[int], n_tokens: int = 8, strength: float = 2.0) -> torch.Tensor:
    logits = torch.zeros(1, 10, n_tokens)
    for t, c in enumerate(seq + [EOS_ID] * (10 - len(seq))):
        logits[0, t, c] = strength
    return logits


@pytest.mark.parametrize("name,refined,taken", [
    ("substitution", [2, 5, 4], True),
    ("insertion", [2, 3, 6, 4], True),
    ("deletion", [2, 4], True),
    ("deletion of the last", [2, 3], True),
    ("insertion at the end", [2, 3, 4, 7], True),
    ("two edits", [5, 3, 6], False),
    ("far", [6, 6, 7, 7, 5], False),
])
def test_joint_edit1_takes_the_refiners_reading_only_one_edit_away(name, refined, taken):
    """Hand-built readings: the Spotter reads [2, 3, 4] (weakly), the Refiner's greedy reading is
    ``refined`` and both together prefer it (``joint`` takes it). ``joint-edit1`` takes it only
    when it is one edit away, and the ``parallel`` mode finds the same as greedy decoding."""
    from mstr.reading.decode import cut_at_eos
    from mstr.reading.refine import refine_readings

    spotted_seq = [2, 3, 4]
    s_logits = _spotter_logits(spotted_seq, strength=0.5)
    p = s_logits[0].softmax(-1)
    spotted = [cut_at_eos([int(i) for i in p.argmax(-1)], [float(q) for q in p.max(-1).values])]
    assert spotted[0][0] == spotted_seq
    forced, greedy = _greedy_model(refined)
    assert cut_at_eos(*greedy()[0])[0] == refined
    joint = refine_readings(spotted, s_logits, policy="joint", mode="greedy", forced=forced, greedy=greedy,
                            max_len=10)
    assert joint[0][0] == refined  # the two models together prefer the Refiner's reading
    for mode in ("greedy", "parallel"):
        got = refine_readings(spotted, s_logits, policy="joint-edit1", mode=mode, forced=forced, greedy=greedy,
                              max_len=10)
        assert got[0][0] == (refined if taken else spotted_seq), (name, mode)
        if taken:  # the Refiner's probabilities of its own reading
            assert got[0][2] == pytest.approx(joint[0][2], rel=1e-5)


def test_joint_edit1_keeps_the_spotters_reading_when_it_is_jointly_likelier():
    """One edit away but the Spotter is sure of its reading: both models together prefer it."""
    from mstr.reading.decode import cut_at_eos
    from mstr.reading.refine import refine_readings

    s_logits = _spotter_logits([2, 3, 4], strength=12.0)
    p = s_logits[0].softmax(-1)
    spotted = [cut_at_eos([int(i) for i in p.argmax(-1)], [float(q) for q in p.max(-1).values])]
    forced, greedy = _greedy_model([2, 5, 4])
    for mode in ("greedy", "parallel"):
        got = refine_readings(spotted, s_logits, policy="joint-edit1", mode=mode, forced=forced, greedy=greedy,
                              max_len=10)
        assert got[0] == spotted[0]
    got = refine_readings(spotted, s_logits, policy="always", mode="greedy", forced=forced, greedy=greedy,
                          max_len=10)
    assert got[0][0] == [2, 5, 4]


def test_within_one_edit():
    from mstr.reading.refine import within_one_edit

    assert within_one_edit([1, 2, 3], [1, 2, 3]) and within_one_edit([], [4]) and within_one_edit([4], [])
    assert within_one_edit([1, 2, 3], [1, 9, 3]) and within_one_edit([1, 2, 3], [1, 3])
    assert within_one_edit([1, 2, 3], [1, 2, 3, 4]) and within_one_edit([1, 2, 3], [0, 1, 2, 3])
    assert not within_one_edit([1, 2, 3], [3, 2, 1]) and not within_one_edit([1, 2, 3], [1])
    assert not within_one_edit([1, 2, 3], [2, 3, 4]) and not within_one_edit([1, 2], [2, 1])


@pytest.mark.parametrize("chunk", [64, 3])
def test_parallel_joint_edit1_reads_as_greedy_on_random_models(monkeypatch, chunk):
    """On random tiny models the parallel mode's readings equal greedy decoding's under joint-edit1
    (the exactness the mode claims; these Refiners read far from the Spotter, so the Spotter's
    readings are kept: the next test covers the readings taken), whether a batch's teacher-forced
    passes run in one call or in chunks of words of similar lengths."""
    import mstr.reading.recognizer

    monkeypatch.setattr(mstr.reading.recognizer, "FORCED_CHUNK", chunk)
    images = _images(40, seed=3)
    for seed in (2, 5, 7):
        s, bank, r = _tiny_recognizer(seed)
        preds = {mode: Recognizer(s, bank, r, refine=RefineSettings(mode=mode)).read(images, batch_size=16)
                 for mode in ("greedy", "parallel")}
        for g, q in zip(preds["greedy"], preds["parallel"]):
            assert q.text == g.text
            assert q.confidence == pytest.approx(g.confidence, rel=1e-3, abs=1e-7)


def test_parallel_joint_edit1_reads_as_greedy_on_random_near_copies():
    """Random autoregressive models that mostly copy the Spotter's reading, with random
    substitutions, insertions, deletions and derailments depending on the prefix: the parallel
    mode (two or three teacher-forced passes) finds exactly greedy decoding's joint-edit1 readings."""
    import random

    from mstr.reading.decode import cut_at_eos
    from mstr.reading.refine import refine_readings, within_one_edit

    n_tokens, max_len = 9, 10
    kinds = {"same": 0, "one": 0, "far": 0, "taken": 0}
    for seed in range(300):
        rng = random.Random(seed)
        spotted_seq = [rng.randrange(2, n_tokens) for _ in range(rng.randrange(1, 7))]
        s_logits = _spotter_logits(spotted_seq, n_tokens, strength=rng.choice([0.3, 1.0, 3.0]))
        p = s_logits[0].softmax(-1)
        spotted = [cut_at_eos([int(i) for i in p.argmax(-1)], [float(q) for q in p.max(-1).values])]
        salt = rng.randrange(10 ** 6)

        def next_logits(prefix, spotted_seq=spotted_seq, salt=salt):
            g = random.Random(hash((salt, tuple(prefix))))
            logits = torch.tensor([g.random() for _ in range(n_tokens)])
            # follow the Spotter's reading, aligned on the prefix's end, most of the time
            t = len(prefix)
            want = spotted_seq[t] if t < len(spotted_seq) else EOS_ID
            r = g.random()
            if r < 0.15:
                want = g.randrange(2, n_tokens)
            elif r < 0.2:
                want = spotted_seq[t - 1] if 0 < t <= len(spotted_seq) else want
            elif r < 0.25:
                want = spotted_seq[t + 1] if t + 1 < len(spotted_seq) else EOS_ID
            if t >= max_len - 2:
                want = EOS_ID
            logits[want] += 3.0
            return logits

        def forced(rows, seqs):
            width = min(max(len(q) for q in seqs), max_len - 1) + 1
            return torch.stack([torch.stack([next_logits(q[:t]) for t in range(width)]) for q in seqs])

        def greedy():
            seq, probs = [], []
            for _ in range(max_len):
                q = next_logits(seq).index_fill(0, torch.tensor([PAD_ID]), float("-inf")).softmax(-1)
                probs.append(float(q.max()))
                seq.append(int(q.argmax()))
                if seq[-1] == EOS_ID:
                    break
            return [(seq + [EOS_ID] * (max_len - len(seq)), probs + [1.0] * (max_len - len(probs)))]

        r_seq = cut_at_eos(*greedy()[0])[0]
        kinds["same" if r_seq == spotted_seq else "one" if within_one_edit(r_seq, spotted_seq) else "far"] += 1
        want, got = (refine_readings(spotted, s_logits, policy="joint-edit1", mode=mode, forced=forced,
                                     greedy=greedy, max_len=max_len)[0] for mode in ("greedy", "parallel"))
        assert got[0] == want[0], seed
        assert got[2] == pytest.approx(want[2], rel=1e-5), seed
        kinds["taken"] += got[0] != spotted_seq
    assert min(kinds.values()) >= 20, kinds  # every case exercised, and Refiner readings taken


def test_gate_skips_confident_words(monkeypatch):
    """``refine_below``: words whose Spotter confidence is at least the gate keep the Spotter's
    reading and never reach the Refiner; the others are refined as without the gate."""
    s, bank, r = _tiny_recognizer(4)
    images = _images(24, seed=9)
    spot = Recognizer(s, bank, None).read(images)
    confs = sorted(p.confidence for p in spot)
    gate = confs[len(confs) // 2]  # about half the words at or above it
    below = [p.confidence < gate for p in spot]
    assert 0 < sum(below) < len(below)
    seen = []
    memory = r.memory
    monkeypatch.setattr(r, "memory", lambda ids, *a: seen.append(ids.shape[0]) or memory(ids, *a))
    for policy in ("always", "joint-edit1"):
        seen.clear()
        gated = Recognizer(s, bank, r, refine=RefineSettings(policy=policy, below=gate, ratio=None)).read(
            images, batch_size=24)
        full = Recognizer(s, bank, r, refine=RefineSettings(policy=policy, ratio=None)).read(images, batch_size=24)
        assert seen == [sum(below), len(images)]  # the Refiner's memory: gated words only, then all
        for g, f, sp, low in zip(gated, full, spot, below):
            want = f if low else sp
            assert g.text == want.text and g.confidence == pytest.approx(want.confidence, rel=1e-4)
    # nothing below: the Spotter alone
    assert Recognizer(s, bank, r, refine=RefineSettings(below=1e-30)).read(images[:2])
    rec = Recognizer(s, bank, r)
    with pytest.raises(ValueError):
        rec.refine_below = 1.5
    with pytest.raises(ValueError):
        rec.refine_mode = "beam"
    with pytest.raises(ValueError):
        Recognizer(s, bank, r, refine=RefineSettings(policy="sometimes"))


def test_ratio_gate_skips_words_read_without_doubt(monkeypatch):
    """``refine_ratio``: a word whose every position (end of word included) has the Spotter's
    runner-up probability at most R times its best keeps the Spotter's reading without reaching
    the Refiner; the others are refined as without the gate."""
    from mstr.preprocess import preprocess
    from mstr.reading.decode import spotter_decode

    s, bank, r = _tiny_recognizer(4)
    images = _images(24, seed=9)
    spot = Recognizer(s, bank, None).read(images)
    with torch.no_grad():  # per word, the largest runner-up/best ratio over its positions
        _, _, _, top_p = spotter_decode(s(preprocess(images, (32, 128))).logits, s.cfg.topk)
    worst = [(top_p[b, :len(p.chars) + 1, 1] / top_p[b, :len(p.chars) + 1, 0]).max().item()
             for b, p in enumerate(spot)]
    ranked = sorted(worst)  # the gate between two words far enough apart for float rounding
    k = max(range(4, len(ranked) - 4), key=lambda i: ranked[i] - ranked[i - 1])
    assert ranked[k] - ranked[k - 1] > 1e-4
    ratio = (ranked[k] + ranked[k - 1]) / 2
    doubt = [w > ratio for w in worst]
    assert 0 < sum(doubt) < len(doubt)
    seen = []
    memory = r.memory
    monkeypatch.setattr(r, "memory", lambda ids, *a: seen.append(ids.shape[0]) or memory(ids, *a))
    gated = Recognizer(s, bank, r, refine=RefineSettings(policy="always", ratio=ratio)).read(images, batch_size=24)
    full = Recognizer(s, bank, r, refine=RefineSettings(policy="always", ratio=None)).read(images, batch_size=24)
    assert seen == [sum(doubt), len(images)]
    for g, f, sp, d in zip(gated, full, spot, doubt):
        want = f if d else sp
        assert g.text == want.text and g.confidence == pytest.approx(want.confidence, rel=1e-4)
    rec = Recognizer(s, bank, r)
    assert rec.refine_ratio == 0.2  # the default
    one_char = [([5], [0.9], 0.85)]  # a reading of one character: two positions with EOS
    assert rec._refine_rows(one_char, [[[0.9, 0.05], [0.95, 0.01]]]) == []      # no doubt: skipped
    assert rec._refine_rows(one_char, [[[0.9, 0.05], [0.6, 0.3]]]) == [0]       # doubt at the end
    assert rec._refine_rows(one_char, [[[0.9], [0.95]]]) == [0]                 # top-1 only: refined
    for bad in (0.0, 1.0, -0.1, "0.2", True):
        with pytest.raises(ValueError, match="refine_ratio"):
            rec.refine_ratio = bad
    rec.refine_ratio = None  # off


# bf16 reads the 160 demo crops as float32 does for 141-148 of them (88-92.5 %) with the v4 bundle
# on an AVX512-BF16 CPU, depending on the refine policy; the rest are near-ties that bfloat16's 8-bit
# mantissa tips the other way. 80 % leaves room for CPUs whose bf16 kernels round differently; a broken
# bf16 path (garbage maps, a bank in the wrong dtype) agrees on almost none.
BF16_AGREEMENT = 0.80


def test_refine_modes_run_under_bf16():
    """bf16 autocast Spotter (bfloat16 maps) with a float32 Refiner decoder on the CPU: with the v4
    bundle (the shipped one with a Refiner), on the demo crops, each refine policy and mode reads most
    words as float32 does."""
    import json
    from pathlib import Path

    import mstr

    demo = Path(__file__).resolve().parents[1] / "samples" / "demo"
    crops = [demo / json.loads(line)["path_rel"] for line in (demo / "manifest.jsonl").read_text().splitlines()]
    for policy, mode in (("joint-edit1", "parallel"), ("joint-edit1", "greedy"), ("joint", "auto"),
                         ("always", "parallel")):
        fp32 = mstr.load(V4_BUNDLE, refine_policy=policy, refine_mode=mode, bf16=False).read(crops, batch_size=32)
        bf16 = mstr.load(V4_BUNDLE, refine_policy=policy, refine_mode=mode, bf16=True).read(crops, batch_size=32)
        assert all(p.error is None and 0 <= p.confidence <= 1 for p in bf16)
        same = sum(b.text == f.text for b, f in zip(bf16, fp32))
        assert same >= BF16_AGREEMENT * len(crops), (policy, mode, f"{same} of {len(crops)} read as float32 reads them")


def test_light_memory_uses_only_its_levels_and_ranks():
    """``levels`` (1, 2) and ``topk`` 3: the memory holds L·3 prefix tokens and the stride-8/16 maps'
    tokens only, so the stride-4 map and the hypotheses ranked 4th and 5th change nothing, and the
    cached greedy decoder still equals full recomputation."""
    torch.manual_seed(3)
    bank = F.normalize(torch.randn(12, 32), dim=-1)
    light = Refiner(RefinerConfig(dim=32, d_model=32, layers=2, heads=2, max_len=10, channels=CHANNELS,
                                  topk=3, levels=(1, 2)), bank, PAD_ID).eval()
    full = tiny_refiner(12, layers=2, heads=2)
    ids, probs, feats = random_inputs(full, 4, seed=7)        # the Spotter's top-5
    with torch.no_grad():
        mem = light.memory(ids, probs, feats)
        assert mem.shape[1] == 10 * 3 + 4 * 16 + 2 * 16
        assert full.memory(ids, probs, feats).shape[1] == 10 * 5 + 8 * 32 + 4 * 16 + 2 * 16
        other_ids, other_probs = ids.clone(), probs.clone()
        other_ids[..., 3:] = (ids[..., 3:] + 1) % 12
        other_probs[..., 3:] = 0.0
        other_feats = [torch.randn_like(feats[0]), feats[1], feats[2]]
        torch.testing.assert_close(light.memory(other_ids, other_probs, other_feats), mem)
        changed = [feats[0], torch.randn_like(feats[1]), feats[2]]
        assert not torch.allclose(light.memory(ids, probs, changed), mem)
        got = light.greedy(ids, probs, feats, EOS_ID)
        ref = light.greedy_reference(ids, probs, feats, EOS_ID)
    assert torch.equal(got[0], ref[0])
    torch.testing.assert_close(got[1], ref[1])


def test_refiner_reads_the_maps_of_a_ppocr_spotter():
    """Behind a PP-OCRv6 Spotter the Refiner's visual tokens follow the encoder's own strides
    (48×96 input: 12×24, 6×24, 3×24, 1×12), its cached greedy decoder equals full recomputation, a
    config saved before ``strides`` existed is the resnet encoder's, and ``fold_fine`` (2×2 cells)
    is refused where level 1 is not twice level 0 both ways."""
    import json

    from mstr.reading.decode import spotter_decode

    torch.manual_seed(6)
    bank = F.normalize(torch.randn(14, 32), dim=-1)
    s = Spotter(SpotterConfig(dim=32, d_model=32, max_len=8, image_size=(48, 96), encoder="ppocr-tiny"), bank).eval()
    cfg = RefinerConfig(dim=32, d_model=32, layers=1, heads=2, max_len=8, topk=3, levels=(1, 2, 3),
                        channels=tuple(s.encoder.channels), image_size=(48, 96), strides=tuple(s.encoder.strides))
    r = Refiner(cfg, bank, PAD_ID).eval()
    x = torch.rand(3, 3, 48, 96) * 2 - 1
    with torch.no_grad():
        out = s(x)
        _, _, top_i, top_p = spotter_decode(out.logits, s.cfg.topk)
        assert r.memory(top_i, top_p, out.features).shape[1] == 8 * 3 + 6 * 24 + 3 * 24 + 1 * 12
        got = r.greedy(top_i, top_p, out.features, EOS_ID)
        ref = r.greedy_reference(top_i, top_p, out.features, EOS_ID)
    assert torch.equal(got[0], ref[0])
    again = RefinerConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.strides == ((4, 4), (8, 4), (16, 4), (48, 8))
    old = {k: v for k, v in RefinerConfig(channels=CHANNELS).to_dict().items() if k != "strides"}
    assert RefinerConfig.from_dict(old).strides == ((4, 4), (8, 8), (16, 8))
    with pytest.raises(ValueError, match="fold_fine"):
        RefinerConfig(channels=tuple(s.encoder.channels), strides=tuple(s.encoder.strides), fold_fine=True)
    with pytest.raises(ValueError, match="stride 48×8"):
        RefinerConfig(channels=tuple(s.encoder.channels), strides=tuple(s.encoder.strides), levels=(4,))


def test_fold_fine_memory_keeps_the_stride4_detail_in_fewer_tokens():
    """``fold_fine``: the stride-4 map's 2×2 cells are channels of the stride-8 tokens, so the memory
    has the light memory's size, every stride-4 cell changes it (and only the stride-8 tokens that
    cover it), and the cached greedy decoder still equals full recomputation."""
    torch.manual_seed(4)
    bank = F.normalize(torch.randn(12, 32), dim=-1)
    fold = Refiner(RefinerConfig(dim=32, d_model=32, layers=2, heads=2, max_len=10, channels=CHANNELS,
                                 topk=3, fold_fine=True), bank, PAD_ID).eval()
    assert fold.cfg.token_levels() == (1, 2)
    ids, probs, feats = random_inputs(tiny_refiner(12, layers=2, heads=2), 4, seed=8)
    with torch.no_grad():
        mem = fold.memory(ids, probs, feats)
        assert mem.shape[1] == 10 * 3 + 4 * 16 + 2 * 16
        f4 = feats[0].clone()
        f4[:, :, 5, 9] += 3.0                 # one stride-4 cell: row 5, column 9 → stride-8 token (2, 4)
        moved = (fold.memory(ids, probs, [f4, feats[1], feats[2]]) - mem).abs().amax(dim=(0, 2)) > 1e-6
        assert moved.nonzero().flatten().tolist() == [10 * 3 + 2 * 16 + 4]
        got = fold.greedy(ids, probs, feats, EOS_ID)
        ref = fold.greedy_reference(ids, probs, feats, EOS_ID)
    assert torch.equal(got[0], ref[0])
    torch.testing.assert_close(got[1], ref[1])


@pytest.mark.parametrize("change", [dict(levels=(3,)), dict(levels=(1, 1)), dict(levels=()), dict(topk=0),
                                    dict(levels=(1, 2), fold_fine=True), dict(levels=(0, 2), fold_fine=True)])
def test_bad_light_memory_settings_are_refused(change):
    with pytest.raises(ValueError, match="levels|topk"):
        RefinerConfig(dim=32, d_model=32, channels=CHANNELS, **change)


def test_forced_chunks_cover_every_row_once_and_pay_for_padding_only_when_worth_it():
    from mstr.reading.refine import FORCED_CALL_COST, FORCED_ROW_COST, forced_chunks

    def cost(widths, chunks, max_rows=64):
        return sum(-(-(b - a) // max_rows) * FORCED_CALL_COST + (b - a) * (FORCED_ROW_COST + widths[b - 1] + 1)
                   for a, b in chunks)

    similar = [5, 5, 6, 6, 7, 7, 8, 9]
    assert forced_chunks(similar) == [(0, 8)]                 # a call costs more than this padding
    few_long = [3] * 60 + [20] * 4
    chunks = forced_chunks(few_long)
    assert chunks == [(0, 60), (60, 64)]                      # 60 short rows not padded to 20
    assert cost(few_long, chunks) < cost(few_long, [(0, 64)])
    g = np.random.default_rng(0)
    for _ in range(20):
        widths = sorted(g.integers(0, 25, int(g.integers(1, 200))).tolist())
        chunks = forced_chunks(widths, 16)
        assert chunks[0][0] == 0 and chunks[-1][1] == len(widths)
        assert all(a < b and b == c for (a, b), (c, _) in zip(chunks, chunks[1:] + [(len(widths), None)]))
        assert all(widths[a - 1] != widths[a] for a, _ in chunks[1:])  # splits only between widths
        assert cost(widths, chunks, 16) <= cost(widths, [(0, len(widths))], 16)
    assert forced_chunks([]) == []
    with pytest.raises(ValueError, match="sorted"):
        forced_chunks([4, 2])

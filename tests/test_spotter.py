"""Spotter / Refiner / bundle unit checks."""
from __future__ import annotations

import json

import pytest
from conftest import striped
import torch
import torch.nn.functional as F

import mstr
from mstr.bank import EOS_ID, PAD_ID, bank_entries, build_bank
from mstr.bundle import save_bundle
from mstr.errors import UserError
from mstr.models.refiner import Refiner, RefinerConfig
from mstr.models.spotter import Spotter, SpotterConfig
from mstr.reading.decode import spotter_decode
from mstr.reading.refine_policy import RefineSettings

SMALL = dict(d_model=32, widths=(8, 8, 16, 16), max_len=10, dec_layers=1, heads=2)


@pytest.fixture(scope="module")
def bank():
    torch.manual_seed(0)
    e = bank_entries(["en", "hi"])
    return build_bank(e, F.normalize(torch.randn(len(e), 32), dim=-1))


def test_spotter_shapes_frozen_bank_and_finite_smoothed_loss(bank):
    s = Spotter(SpotterConfig(dim=32, **SMALL), bank.vectors, PAD_ID)
    out = s(torch.randn(2, 3, 32, 128))
    assert out.embeddings.shape == (2, 10, 32) and out.logits.shape == (2, 10, len(bank))
    assert [tuple(f.shape[2:]) for f in out.features] == [(8, 32), (4, 16), (2, 16)]
    assert "bank" not in dict(s.named_parameters()) and "bank" not in s.state_dict()
    y = torch.randint(2, len(bank), (2, 10))
    loss = F.cross_entropy(out.logits.flatten(0, 1), y.flatten(), label_smoothing=0.1)
    assert torch.isfinite(loss)
    loss.backward()
    assert s.log_scale.grad is not None


def test_pad_is_never_decoded(bank):
    logits = torch.zeros(1, 3, len(bank))
    logits[..., PAD_ID] = 50.0
    ids, probs, top_i, _ = spotter_decode(logits, 5)
    assert (ids != PAD_ID).all() and (top_i != PAD_ID).all()


def test_refiner_teacher_forcing_and_greedy(bank):
    s = Spotter(SpotterConfig(dim=32, **SMALL), bank.vectors, PAD_ID)
    r = Refiner(RefinerConfig(dim=32, d_model=32, layers=1, heads=2, max_len=10, channels=(8, 16, 16)), bank.vectors)
    out = s(torch.randn(2, 3, 32, 128))
    _, _, top_i, top_p = spotter_decode(out.logits, 5)
    prev = torch.randint(2, len(bank), (2, 9))
    assert r(top_i, top_p, out.features, prev).shape == (2, 10, len(bank))
    ids, p = r.greedy(top_i, top_p, out.features, EOS_ID)
    assert ids.shape == p.shape and ids.shape[1] <= 10 and (ids != PAD_ID).all()


def test_bundle_round_trip_and_errors(bank, tmp_path):
    s = Spotter(SpotterConfig(dim=32, **SMALL), bank.vectors, PAD_ID)
    save_bundle(tmp_path / "b", spotter=s, bank=bank, name="toy")
    rec = mstr.load(tmp_path / "b")
    assert rec.name == "toy" and rec.refiner is None and rec.langs == ["en", "hi"]
    x = torch.randn(1, 3, 32, 128)
    assert rec.spotter(x).logits.allclose(s.eval()(x).logits)
    # a bank that is not the one the Spotter was trained with
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    cfg["bank_fingerprint"] = "0" * 64
    (tmp_path / "b" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="not the one the model was trained with"):
        mstr.load(tmp_path / "b")
    with pytest.raises(UserError, match="config.json is missing"):
        mstr.load(tmp_path)
    (tmp_path / "c").mkdir()
    save_bundle(tmp_path / "c", spotter=s, bank=bank)
    (tmp_path / "c" / "spotter.safetensors").unlink()
    with pytest.raises(UserError, match="spotter.safetensors"):
        mstr.load(tmp_path / "c")


def test_light_refiner_bundle_round_trip_and_inconsistent_sizes(bank, tmp_path):
    """A Refiner with its own memory settings (stride-8/16 maps, top-2) saves and loads as itself;
    a config whose Refiner reads more hypotheses than the Spotter gives, or names a map the
    Spotter does not have, is refused with the file named."""
    s = Spotter(SpotterConfig(dim=32, **SMALL), bank.vectors, PAD_ID)
    r = Refiner(RefinerConfig(dim=32, d_model=32, layers=1, heads=2, max_len=10, channels=(8, 16, 16), topk=2,
                              levels=(1, 2)), bank.vectors, PAD_ID)
    save_bundle(tmp_path / "b", spotter=s, bank=bank, refiner=r, name="light")
    rec = mstr.load(tmp_path / "b")
    assert rec.refiner.cfg.levels == (1, 2) and rec.refiner.cfg.topk == 2
    assert rec.refiner.visual.pos[0].shape[0] == 4 * 16  # the first visual level is the stride-8 map
    cfg_path = tmp_path / "b" / "config.json"
    good = json.loads(cfg_path.read_text())
    for change, message in (({"topk": s.cfg.topk + 1}, "top-"), ({"levels": [0, 3]}, "levels")):
        cfg_path.write_text(json.dumps({**good, "refiner": {**good["refiner"], **change}}))
        with pytest.raises(UserError, match=message) as err:
            mstr.load(tmp_path / "b")
        assert "config.json" in str(err.value)


def test_no_default_model_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr("mstr.api.default_bundle_path", lambda: tmp_path / "none")
    with pytest.raises(UserError, match="--bundle"):
        mstr.load()


def test_refine_policy_confidence_keeps_the_surer_reading(bank):
    from mstr.reading.recognizer import Recognizer

    torch.manual_seed(1)
    s = Spotter(SpotterConfig(dim=32, **SMALL), bank.vectors, PAD_ID)
    r = Refiner(RefinerConfig(dim=32, d_model=32, layers=1, heads=2, max_len=10, channels=(8, 16, 16)), bank.vectors)
    images = [striped((60 + 10 * i, 32), (30 * i, 90, 200)) for i in range(6)]
    spot = Recognizer(s, bank, None).read(images)
    always = Recognizer(s, bank, r, refine=RefineSettings(policy="always")).read(images)
    gated = Recognizer(s, bank, r, refine=RefineSettings(policy="confidence")).read(images)
    for a, b, g in zip(spot, always, gated):
        assert g.confidence == pytest.approx(max(a.confidence, b.confidence))
        assert g.text == (b.text if b.confidence >= a.confidence else a.text)
    with pytest.raises(ValueError):
        Recognizer(s, bank, r, refine=RefineSettings(policy="sometimes"))


def test_sequence_logprob_by_hand():
    from mstr.reading.decode import sequence_logprob

    # ids: 0 = EOS, 1 = <pad> (never an output), 2 and 3 = characters
    logits = torch.tensor([[[0.0, 5.0, 0.0, 0.0], [1.0, 0.0, 0.0, 2.0], [3.0, 0.0, 0.0, 0.0]]])
    logits = logits.repeat(3, 1, 1)
    got = sequence_logprob(logits, [[2], [2, 3], [2, 3, 3]])
    lsm = lambda row, i: row[i] - torch.logsumexp(row[[0, 2, 3]], 0)  # noqa: E731  (pad excluded)
    assert got[0] == pytest.approx(float(lsm(logits[0, 0], 2) + lsm(logits[0, 1], 0)), abs=1e-5)
    assert got[1] == pytest.approx(float(lsm(logits[0, 0], 2) + lsm(logits[0, 1], 3) + lsm(logits[0, 2], 0)), abs=1e-5)
    assert got[2] == float("-inf")  # 3 characters + EOS do not fit in 3 positions


def test_refine_policy_joint_picks_the_jointly_likelier_reading(bank):
    from mstr.preprocess import preprocess
    from mstr.reading.decode import cut_at_eos as _cut, sequence_logprob
    from mstr.reading.recognizer import Recognizer

    torch.manual_seed(2)
    s = Spotter(SpotterConfig(dim=32, **SMALL), bank.vectors, PAD_ID).eval()
    r = Refiner(RefinerConfig(dim=32, d_model=32, layers=1, heads=2, max_len=10, channels=(8, 16, 16)),
                bank.vectors).eval()
    images = [striped((60 + 10 * i, 32), (30 * i, 90, 200)) for i in range(8)]
    joint = Recognizer(s, bank, r, refine=RefineSettings(policy="joint")).read(
        images, script_consistency=False)  # the policy alone
    x = preprocess(images, (32, 128))
    with torch.no_grad():
        out = s(x)
        ids, p, top_i, top_p = spotter_decode(out.logits, s.cfg.topk)
        r_ids, r_p = r.greedy(top_i, top_p, out.features, EOS_ID)
    differing = 0
    for b, pred in enumerate(joint):
        cands = [_cut(ids[b].tolist(), p[b].tolist())[0], _cut(r_ids[b].tolist(), r_p[b].tolist())[0]]
        scores = []
        for c in cands:
            prev = torch.tensor([c + [PAD_ID]])[:, :min(len(c), 9)]
            with torch.no_grad():
                rl = r(top_i[b:b + 1], top_p[b:b + 1], [f[b:b + 1] for f in out.features], prev)
            scores.append(float(sequence_logprob(out.logits[b:b + 1], [c]) + sequence_logprob(rl, [c])))
        want = cands[1] if cands[0] != cands[1] and scores[1] > scores[0] else cands[0]
        differing += cands[0] != cands[1]
        assert pred.text == bank.decode(want)
    assert differing > 0  # the random models disagree somewhere, so the choice was exercised


@pytest.mark.parametrize("encoder,size,levels", [("resnet", (32, 128), (1, 2)), ("ppocr-tiny", (48, 192), (2, 3))])
def test_spotter_encoders(encoder, size, levels):
    from mstr.models.spotter import Spotter, SpotterConfig

    bank = torch.nn.functional.normalize(torch.randn(40, 16), dim=1)
    cfg = SpotterConfig(dim=16, d_model=32, widths=(8, 8, 16, 16), image_size=size, max_len=6, encoder=encoder)
    model = Spotter(SpotterConfig.from_dict(cfg.to_dict()), bank).eval()
    assert model.memory_levels == levels
    out = model(torch.randn(2, 3, *size))
    assert out.logits.shape == (2, 6, 40)
    assert [f.shape[1] for f in out.features] == list(model.encoder.channels)
    n_tokens = sum(f.shape[2] * f.shape[3] for i, f in enumerate(out.features) if i in levels)
    assert model.tokens.pos[0].shape[0] + model.tokens.pos[1].shape[0] == n_tokens


def test_spotter_encoder_settings_refused():
    from mstr.models.spotter import Spotter, SpotterConfig

    bank = torch.nn.functional.normalize(torch.randn(10, 16), dim=1)
    with pytest.raises(ValueError, match="48-pixel-high"):
        Spotter(SpotterConfig(dim=16, d_model=32, image_size=(32, 128), encoder="ppocr-small"), bank)
    with pytest.raises(ValueError, match="unknown Spotter encoder"):
        Spotter(SpotterConfig(dim=16, d_model=32, encoder="vit"), bank)

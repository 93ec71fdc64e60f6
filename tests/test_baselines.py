"""In-framework baselines: CRNN-CTC and the softmax-head Spotter (models, training, bundles)."""
from __future__ import annotations

import csv
import json
import math

import pytest
from conftest import striped
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

import mstr.cli.main as cli_main
from mstr.bank import EOS_ID, PAD_ID, bank_entries, build_bank
from mstr.baseline_bundle import load_baseline_model, read_baseline_config, save_baseline_bundle
from mstr.engines.baselines import CtcRecognizer, load_baseline
from mstr.errors import UserError
from mstr.models.crnn import CRNN, CRNNConfig, ctc_greedy
from mstr.models.softmax_spotter import SoftmaxSpotter, SoftmaxSpotterConfig
from mstr.train.ctc import ctc_targets
from mstr.train.words import IGNORE

TINY_CRNN = dict(widths=(8, 8, 16, 16), hidden=16, rnn_layers=1, max_len=8)
TINY_SOFTMAX = dict(d_model=32, widths=(8, 8, 16, 16), max_len=8, dec_layers=1, heads=2)


@pytest.fixture(scope="module")
def bank():
    torch.manual_seed(0)
    e = bank_entries(["en"])
    return build_bank(e, F.normalize(torch.randn(len(e), 16), dim=-1))


def _word_image(word: str, colour: tuple[int, int, int]) -> Image.Image:
    im = Image.new("RGB", (96, 32), colour)
    ImageDraw.Draw(im).text((6, 4), word, fill=(255 - colour[0], 255, 255 - colour[2]),
                            font=ImageFont.load_default(size=20))
    return im


@pytest.fixture(scope="module")
def word_manifest(tmp_path_factory):
    """A manifest of 24 rendered English words (3 words × 8 colours)."""
    root = tmp_path_factory.mktemp("words")
    (root / "en").mkdir()
    lines = []
    for k, word in enumerate(["ab", "ba", "cab"]):
        for c in range(8):
            name = f"{word}_{c}.png"
            _word_image(word, (20 * c, 40, 160 - 15 * c)).save(root / "en" / name)
            lines.append({"id": f"{k}{c}", "path_rel": f"en/{name}", "filename": name, "gt_text": word,
                          "lang": "en", "dataset": "toy"})
    manifest = root / "m.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return manifest, root


# -- CTC ----------------------------------------------------------------------------------------


def test_ctc_greedy_collapses_repeats_and_drops_blanks():
    blank = 4
    path = [2, 2, 4, 2, 3, 3, 4, 4]                    # a a _ a b b _ _  →  a a b
    peaks = [0.6, 0.9, 0.8, 0.7, 0.5, 0.95, 0.9, 0.99]
    logits = torch.full((1, len(path), 5), -10.0)
    for t, (c, p) in enumerate(zip(path, peaks)):
        logits[0, t, c] = 0.0
        logits[0, t, (c + 1) % 5] = math.log((1 - p) / p)   # second best keeps max prob ≈ p
    r = ctc_greedy(logits, blank)[0]
    assert r.ids == [2, 2, 3]
    probs = logits.softmax(-1).max(-1).values[0].tolist()
    assert r.probs == pytest.approx([max(probs[0:2]), probs[3], max(probs[4:6])])
    runs = [max(probs[0:2]), probs[2], probs[3], max(probs[4:6]), max(probs[6:8])]
    assert r.confidence == pytest.approx(math.prod(runs))
    # all blank → empty reading; an excluded class falls back to the next best
    assert ctc_greedy(torch.zeros(1, 3, 5).index_fill(-1, torch.tensor([blank]), 5.0), blank)[0].ids == []
    masked = torch.zeros(1, 2, 5)
    masked[0, :, 0] = 9.0
    masked[0, 0, 3] = 5.0
    masked[0, 1, 4] = 5.0
    assert ctc_greedy(masked, blank, never=(0, 1))[0].ids == [3]


def test_ctc_targets_drop_eos_and_ignore():
    y = torch.tensor([[5, 6, EOS_ID, IGNORE], [7, EOS_ID, IGNORE, IGNORE]])
    t, n = ctc_targets(y)
    assert t.tolist() == [5, 6, 7] and n.tolist() == [2, 1]


# -- shapes -------------------------------------------------------------------------------------


def test_crnn_shapes_and_budget(bank):
    m = CRNN(CRNNConfig(num_classes=len(bank) + 1, **TINY_CRNN))
    assert m(torch.randn(2, 3, 32, 128)).shape == (2, 31, len(bank) + 1) and m.columns() == 31
    assert m.cfg.blank == len(bank)
    full = CRNN(CRNNConfig(num_classes=446))  # defaults, a 6-language bank: the Spotter's ~0.8 M budget
    assert 0.6e6 < sum(p.numel() for p in full.parameters()) < 1.0e6
    with pytest.raises(ValueError):
        CRNN(CRNNConfig(num_classes=len(bank) + 1, image_size=(48, 128)))


def test_softmax_spotter_shapes_and_reader(bank):
    from mstr.reading.recognizer import Recognizer

    m = SoftmaxSpotter(SoftmaxSpotterConfig(num_classes=len(bank), **TINY_SOFTMAX), PAD_ID)
    out = m(torch.randn(2, 3, 32, 128))
    assert out.logits.shape == (2, 8, len(bank))
    assert [tuple(f.shape[2:]) for f in out.features] == [(8, 32), (4, 16), (2, 16)]
    assert torch.isinf(m.decodable(out.logits)[..., PAD_ID]).all()
    preds = Recognizer(m, bank, None).read([striped((50, 20), (9, 9, 9))])  # type: ignore[arg-type]
    assert len(preds) == 1 and 0.0 <= preds[0].confidence <= 1.0 and len(preds[0].topk[0]) == 5


# -- training through the CLI, bundles ---------------------------------------------------------


def _train(kind: str, tmp_path, word_manifest, extra: list[str]) -> tuple[list[float], object]:
    manifest, root = word_manifest
    bank_dir = tmp_path / "bank"
    torch.manual_seed(0)
    e = bank_entries(["en"])
    build_bank(e, F.normalize(torch.randn(len(e), 16), dim=-1)).save(bank_dir)
    out = tmp_path / kind
    args = ["train", kind, f"bank={bank_dir}", f"out={out}", "optim.max_steps=30", "optim.warmup_steps=2",
            "optim.lr=0.004", "data.batch_size=8", "data.workers=0", "data.val_sources=null",
            f"data.sources=[{{name: toy, manifest: {manifest}, root: {root}}}]", "trainer.precision=32-true",
            "trainer.log_every=1", "trainer.val_every=1000", "trainer.ckpt_every=1000", "trainer.progress_bar=false",
            "model.max_len=8", *extra]
    assert cli_main.main(args) == 0
    rows = list(csv.DictReader(open(next((out / "logs").glob("version_*/metrics.csv")))))
    losses = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    return losses, out / "bundle"


@pytest.mark.slow
@pytest.mark.parametrize("kind,extra", [
    ("crnn", ["model.widths=[8,8,16,16]", "model.hidden=16", "model.rnn_layers=1"]),
    ("softmax", ["model.widths=[8,8,16,16]", "model.d_model=32", "model.dec_layers=1", "model.heads=2",
                 "optim.ctc_weight=0.2"]),
])
def test_tiny_training_lowers_the_loss_and_bundle_round_trips(kind, extra, tmp_path, word_manifest):
    losses, bundle = _train(kind, tmp_path, word_manifest, extra)
    assert len(losses) >= 25
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, losses
    cfg = read_baseline_config(bundle)
    assert cfg["kind"] == kind and cfg["langs"] == ["en"] and cfg["training"][kind]["steps"] == 30
    model, bank, _ = load_baseline_model(bundle, kind)
    reader = load_baseline(bundle)
    manifest, root = word_manifest
    images = [Image.open(root / "en" / "ab_0.png").convert("RGB"), Image.open(root / "en" / "cab_3.png").convert("RGB")]
    preds = reader.read(images)
    assert len(preds) == 2 and all(0.0 <= p.confidence <= 1.0 for p in preds)
    if kind == "crnn":
        assert isinstance(reader, CtcRecognizer)
        from mstr.preprocess import preprocess

        with torch.no_grad():
            logits = model(preprocess(images, (32, 128)))
        want = [bank.decode(r.ids) for r in ctc_greedy(logits, model.cfg.blank, never=(EOS_ID, PAD_ID))]
        assert [p.text for p in preds] == want
    # the wrong kind, an altered bank, a missing weights file
    other = "softmax" if kind == "crnn" else "crnn"
    with pytest.raises(UserError, match=f"not a {other}"):
        load_baseline_model(bundle, other)
    (bundle / "model.safetensors").rename(bundle / "gone")
    with pytest.raises(UserError, match="model.safetensors"):
        load_baseline(bundle)


def test_bundle_errors(bank, tmp_path):
    m = CRNN(CRNNConfig(num_classes=len(bank) + 1, **TINY_CRNN))
    save_baseline_bundle(tmp_path / "b", model=m, bank=bank)
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    assert cfg["format"] == "mstr-baseline-bundle" and cfg["kind"] == "crnn" and "blank" in cfg["labels"]
    cfg["bank_fingerprint"] = "0" * 64
    (tmp_path / "b" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="not the one the model was trained with"):
        load_baseline(tmp_path / "b")
    with pytest.raises(UserError, match="config.json is missing"):
        load_baseline(tmp_path)
    with pytest.raises(ValueError):  # a model whose classes do not fit the bank
        save_baseline_bundle(tmp_path / "c", model=CRNN(CRNNConfig(num_classes=len(bank), **TINY_CRNN)), bank=bank)


def test_train_needs_a_bank(tmp_path):
    assert cli_main.main(["train", "crnn", f"out={tmp_path}"]) == 2

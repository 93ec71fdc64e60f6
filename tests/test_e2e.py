"""The whole pipeline on a toy problem (3 scripts, a few hundred synthetic words, CPU):
Stage 1 → bank → Spotter → Refiner → bundle → mstr.load → read its own training words."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import mstr
from mstr.cli.main import main
from mstr.data.lmdb import LmdbWriter

WORDS = {
    "en": ["STOP", "hotel", "bank", "road", "exit", "cafe", "open", "taxi"],
    "hi": ["नमस्ते", "भारत", "दिल्ली", "रेल", "बस", "होटल", "कर्म", "क्षेत्र"],
    "ta": ["சென்னை", "தமிழ்", "கடை", "பால்", "மொழி", "வீடு", "நீர்", "பூ"],
}
pytestmark = pytest.mark.slow  # the module's fixture trains mCLIP, a Spotter and a Refiner: ~60 s alone
TINY = ["data.workers=0", "trainer.progress_bar=false", "trainer.log_every=10", "trainer.ckpt_every=100000"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from mstr.fonts import fonts_for_lang
    from mstr.synth.generate import GenSpec, generate
    from mstr.synth.pipeline import Synthesizer, SynthOptions

    root = tmp_path_factory.mktemp("e2e")
    chars = root / "chars"
    generate(GenSpec(kind="chars", langs=("en", "hi", "ta"), n=300, val_frac=0.0, augment=False), chars, progress=False)
    assert main(["train", "mclip", f"data.root={chars}", "data.langs=en,hi,ta", "data.batch_size=64",
                 "model.dim=32", "model.widths=[8,16,16,32]", "model.text_width=32", "model.text_layers=1",
                 "model.text_heads=2", "optim.max_steps=80", "optim.warmup_steps=5", "trainer.val_every=1000",
                 f"out={root / 'mclip'}", *TINY]) == 0
    assert main(["bank", "build", "--mclip", str(root / "mclip"), "--langs", "en,hi,ta", "--out", str(root / "bank")]) == 0

    # a few hundred word images: 8 words × 3 languages × 12 clean renders in the training fonts
    words = root / "words"
    for lang, ws in WORDS.items():
        synth = Synthesizer(fonts_for_lang(lang), SynthOptions(augment=False))
        for split, reps in (("train", 12), ("val", 1)):
            with LmdbWriter(words / "LMDB" / lang / f"{split}_lmdb") as w:
                for r in range(reps):
                    for k, word in enumerate(ws):
                        buf = io.BytesIO()
                        synth.render_word(word, np.random.default_rng([r, k])).save(buf, format="PNG")
                        w.add(buf.getvalue(), word, lang)
    common = [f"data.sources=[{{name: synth, root: {words}, split: train}}]",
              f"data.val_sources=[{{name: synth, root: {words}, split: val}}]", "data.batch_size=32",
              "trainer.val_every=1000", "trainer.precision=32-true", *TINY]
    assert main(["train", "spotter", f"bank={root / 'bank'}", "model.d_model=64", "model.widths=[16,24,48,64]",
                 "model.dec_layers=1", "model.max_len=12", "optim.max_steps=260", "optim.warmup_steps=20",
                 "optim.lr=0.003", "optim.label_smoothing=0.0", f"out={root / 'spotter'}", *common]) == 0
    assert main(["train", "refiner", f"init_bundle={root / 'spotter' / 'bundle'}", "refiner.d_model=64",
                 "refiner.layers=1", "optim.max_steps=150", "optim.warmup_steps=10", "optim.lr=0.003",
                 f"out={root / 'refiner'}", *common]) == 0
    return root


def _read_all(recognizer, root):
    from mstr.data.lmdb import LmdbDataset

    right = total = 0
    for lang in WORDS:
        ds = LmdbDataset(root / "words" / "LMDB" / lang / "train_lmdb")
        images = [ds[i][0] for i in range(0, len(ds), 3)]
        labels = [ds[i][1] for i in range(0, len(ds), 3)]
        preds = recognizer.read(images)
        right += sum(p.text == y for p, y in zip(preds, labels))
        total += len(labels)
        ds.close()
    return right / total


def test_pipeline_reads_its_training_words(pipeline):
    spot = mstr.load(pipeline / "spotter" / "bundle")
    full = mstr.load(pipeline / "refiner" / "bundle")
    assert spot.refiner is None and full.refiner is not None
    acc_spot = _read_all(spot, pipeline)
    acc_full = _read_all(full, pipeline)
    # chance of an exact word is ~0; a working pipeline memorises most of its 24 words
    print(f"exact-word accuracy on the training words: spotter {acc_spot:.2f}, + refiner {acc_full:.2f}")
    assert acc_spot > 0.6, acc_spot
    assert acc_full > 0.5, acc_full


def test_prediction_fields_and_script(pipeline):
    from mstr.data.lmdb import LmdbDataset

    rec = mstr.load(pipeline / "refiner" / "bundle")
    ds = LmdbDataset(pipeline / "words" / "LMDB" / "hi" / "train_lmdb")
    pred = rec.read([ds[0][0]])[0]
    assert pred.script == "Deva" or pred.text == ""
    assert 0.0 <= pred.confidence <= 1.0
    assert len(pred.chars) == len(pred.text)
    assert pred.topk and len(pred.topk[0]) == 5
    ds.close()


def test_light_refiner_trains_from_config_and_bad_levels_are_refused(pipeline, tmp_path, capsys):
    """``refiner.levels`` / ``refiner.topk`` reach the trained bundle; a map index the Spotter does not
    have stops with a message, not a traceback."""
    common = [f"data.sources=[{{name: synth, root: {pipeline / 'words'}, split: train}}]",
              f"data.val_sources=[{{name: synth, root: {pipeline / 'words'}, split: val}}]", "data.batch_size=16",
              "trainer.val_every=1000", "trainer.precision=32-true", *TINY]
    init = f"init_bundle={pipeline / 'spotter' / 'bundle'}"
    assert main(["train", "refiner", init, "refiner.d_model=32", "refiner.layers=1", "refiner.levels=[1,2]",
                 "refiner.topk=3", "optim.max_steps=5", f"out={tmp_path / 'light'}", *common]) == 0
    rec = mstr.load(tmp_path / "light" / "bundle")
    assert rec.refiner.cfg.levels == (1, 2) and rec.refiner.cfg.topk == 3 and not rec.refiner.cfg.fold_fine
    assert len(rec.read([Image.new("RGB", (100, 32), "white")])) == 1
    assert main(["train", "refiner", init, "refiner.d_model=32", "refiner.layers=1", "refiner.fold_fine=true",
                 "optim.max_steps=5", f"out={tmp_path / 'fold'}", *common]) == 0
    assert mstr.load(tmp_path / "fold" / "bundle").refiner.cfg.fold_fine
    for bad, word in (("refiner.levels=[0,5]", "levels"), ("refiner.fold_fine=yes please", "fold_fine"),
                      ("refiner.levels=[1,2]", "fold_fine")):
        capsys.readouterr()
        extra = ["refiner.fold_fine=true"] if bad == "refiner.levels=[1,2]" else []
        assert main(["train", "refiner", init, bad, *extra, "optim.max_steps=5",
                     f"out={tmp_path / 'bad'}", *common]) != 0
        err = capsys.readouterr().err
        assert word in err and "Traceback" not in err


def test_fine_tune_at_a_wider_input(pipeline, tmp_path, capsys):
    """``init_image_size`` continues a bundle at another input size: the new bundle records and reads
    at it; without an init_bundle it is a one-line error."""
    common = [f"data.sources=[{{name: synth, root: {pipeline / 'words'}, split: train}}]", "data.val_sources=null",
              "data.batch_size=16", "optim.max_steps=3", "optim.warmup_steps=1", "trainer.precision=32-true", *TINY]
    assert main(["train", "spotter", f"init_bundle={pipeline / 'spotter' / 'bundle'}", "init_image_size=[32,160]",
                 f"out={tmp_path / 'wide'}", *common]) == 0
    rec = mstr.load(tmp_path / "wide" / "bundle")
    assert tuple(rec.spotter.cfg.image_size) == (32, 160)
    assert len(rec.read([Image.new("RGB", (200, 32), "white")])) == 1
    capsys.readouterr()
    assert main(["train", "spotter", f"bank={pipeline / 'bank'}", "init_image_size=[32,160]",
                 f"out={tmp_path / 'bad'}", *common]) != 0
    err = capsys.readouterr().err
    assert "init_image_size" in err and "Traceback" not in err

"""mstr.reading.reader: the surface every reader shares — batching and unusable inputs, the refine
settings on a loaded reader, and the torch and ONNX readers giving the same Predictions through the
one Prediction builder."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny_bundle
import torch
from PIL import Image

import mstr
import mstr.reading.reader as reader_module
from mstr.engines.baselines import CtcRecognizer
from mstr.reading.parallel import ParallelReader
from mstr.reading.prediction import Prediction
from mstr.reading.reader import Reader, SpotterReader
from mstr.reading.recognizer import Recognizer
from mstr.reading.refine_policy import RefineSettings


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random bundle with a Refiner (test_bundle's builder)."""
    return tiny_bundle(tmp_path_factory.mktemp("reader") / "bundle", langs=("en",))


def images(n: int = 7, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (int(rng.integers(16, 48)), int(rng.integers(40, 160)), 3),
                                         dtype=np.uint8), "RGB") for _ in range(n)]


class Counting(Reader):
    """A reader whose ``read_tensor`` names each image by its batch and row."""

    def __init__(self) -> None:
        self.image_size = (32, 128)
        self.batches: list[int] = []

    def read_tensor(self, x: torch.Tensor) -> list[Prediction]:
        self.batches.append(x.shape[0])
        return [Prediction(text=f"{len(self.batches)}.{i}", confidence=1.0, script=None) for i in range(x.shape[0])]


def test_every_reader_shares_the_base():
    assert issubclass(Recognizer, SpotterReader) and issubclass(CtcRecognizer, Reader)
    assert issubclass(ParallelReader, Reader) and issubclass(SpotterReader, Reader)
    assert hasattr(Reader, "read_photo")


def test_read_batches_in_order_and_reports_unusable_inputs():
    reader = Counting()
    preds = reader.read([*images(5), b"not an image", images(1)[0]], batch_size=2)
    assert len(preds) == 7 and reader.batches == [2, 2, 2]          # the unusable input is not batched
    assert preds[5].error and preds[5].text == "" and not preds[6].error
    assert [p.text for p in preds if not p.error] == ["1.0", "1.1", "2.0", "2.1", "3.0", "3.1"]


def test_refine_settings_change_on_a_loaded_reader_and_are_checked(tiny):
    rec = mstr.load(tiny)
    assert rec.refine_settings == RefineSettings()
    rec.refine_mode, rec.refine_below = "greedy", 0.5
    assert rec.refine_settings == RefineSettings(mode="greedy", below=0.5)
    assert (rec.refine_policy, rec.refine_mode, rec.refine_below) == ("joint-edit1", "greedy", 0.5)
    with pytest.raises(ValueError, match="refine_ratio must be in"):
        rec.refine_ratio = 2.0
    assert rec.refine_settings.ratio == 0.2                         # a refused change leaves the settings


def test_refine_mode_changes_what_is_read(tiny):
    rec = mstr.load(tiny, refine_policy="always", refine_ratio=None)
    ims = images(9, seed=3)
    spotter_only = [p.text for p in rec.read(ims, use_refiner=False)]
    assert [p.text for p in rec.read(ims)] != spotter_only         # the Refiner ran and was taken


def test_torch_and_onnx_readers_build_the_same_predictions(tiny, tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from mstr.onnx.export import export_onnx

    export_onnx(tiny, tmp_path / "export")
    built: list[str] = []
    shared = reader_module.to_predictions

    def spy(*args, **kwargs):
        built.append("call")
        return shared(*args, **kwargs)

    monkeypatch.setattr(reader_module, "to_predictions", spy)
    ims = images(8, seed=5)
    for policy in ("always", "joint-edit1"):
        want = mstr.load(tiny, refine_policy=policy, refine_ratio=None).read(ims, batch_size=4)
        got = mstr.load(tmp_path / "export", backend="onnx", refine_policy=policy,
                        refine_ratio=None).read(ims, batch_size=4)
        assert [(g.text, g.script, [c for c, _ in g.chars]) for g in got] == \
               [(w.text, w.script, [c for c, _ in w.chars]) for w in want]
        assert [[[t for t, _ in row] for row in g.topk] for g in got] == \
               [[[t for t, _ in row] for row in w.topk] for w in want]
        for g, w in zip(got, want):
            assert g.confidence == pytest.approx(w.confidence, abs=1e-4)
    assert len(built) == 2 * 2 * 2                                 # 2 policies × 2 backends × 2 batches

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
from mstr.errors import UserError
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


class LeftBright(Reader):
    """A stand-in for a model that reads best when the word runs left to right: the confidence is
    the brightness of the left half of the model input."""

    def __init__(self) -> None:
        self.image_size = (32, 128)
        self.rows = 0

    def read_tensor(self, x: torch.Tensor) -> list[Prediction]:
        self.rows += x.shape[0]
        conf = ((x[:, :, :, :64].mean(dim=(1, 2, 3)) + 1) / 2).tolist()
        return [Prediction(text=f"{c:.3f}", confidence=c, script=None) for c in conf]


def _bright_top(h: int, w: int) -> Image.Image:
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 3] = 255
    return Image.fromarray(a)


def test_a_tall_image_is_also_read_turned_and_the_most_confident_reading_is_kept():
    reader = LeftBright()
    tall = _bright_top(90, 30)
    wide = tall.rotate(90, expand=True)              # the same picture, its bright end on the left
    squat = _bright_top(36, 30)                      # 1.2× as tall as wide: under the 1.5 ratio
    preds = reader.read([tall, wide, squat], batch_size=2)
    assert reader.rows == 5                          # three reads of the tall image, one each of the others
    assert [p.turned for p in preds] == [90, 0, 0]
    assert preds[0].confidence == pytest.approx(preds[1].confidence) and preds[1].confidence > 0.6  # 2/3 bright
    reader.turn_tall, reader.rows = None, 0          # never turn
    (upright,) = reader.read([tall])
    assert reader.rows == 1 and upright.turned == 0 and upright.confidence < 0.4  # 1/3 bright
    counting = Counting()                            # every reading equally confident: the upright one stays
    assert counting.read([tall])[0].turned == 0 and counting.batches == [3]


def test_turning_is_a_setting_of_load_and_of_the_commands(tiny):
    from mstr.cli.main import build_parser
    from mstr.reading.decode_options import decoding_command_parts, decoding_load_kwargs

    assert mstr.load(tiny).turn_tall == 1.5 and mstr.load(tiny, turn_tall=None).turn_tall is None
    for bad in (0, -1, "tall", True):
        with pytest.raises(UserError, match="turn_tall"):
            mstr.load(tiny, turn_tall=bad)
    args = build_parser().parse_args(["read", "x.png", "--no-turn"])
    assert decoding_load_kwargs(args)["turn_tall"] is None and "--no-turn" in decoding_command_parts(args)
    assert decoding_load_kwargs(build_parser().parse_args(["read", "x.png"]))["turn_tall"] == 1.5


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

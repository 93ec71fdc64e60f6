"""Reading with several processes (mstr.load(..., workers=N), mstr.reading.parallel) and the compare option
that uses it: same predictions as one process, clear errors for what it cannot do."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import V4_BUNDLE
from PIL import Image

import mstr
from mstr.errors import UserError


def _noise(n: int, seed: int = 0) -> list[Image.Image]:
    g = np.random.default_rng(seed)
    return [Image.fromarray(g.integers(0, 256, (32, int(g.integers(40, 160)), 3), dtype=np.uint8), "RGB")
            for _ in range(n)]


@pytest.fixture(scope="module")
def parallel():
    # v4: a Spotter + Refiner bundle, so that the Refiner's path through the workers is read too
    with mstr.load(V4_BUNDLE, workers=2, worker_threads=1) as rec:
        yield rec


def test_two_workers_read_as_one_process(parallel, tmp_path):
    images = _noise(23)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    one = mstr.load(V4_BUNDLE).read(images + [bad], batch_size=8)
    two = parallel.read(images + [bad], batch_size=8)
    assert [p.text for p in two] == [p.text for p in one]
    assert [p.confidence for p in two] == pytest.approx([p.confidence for p in one], rel=1e-4, abs=1e-6)
    assert two[-1].error is not None and "broken.png" in two[-1].error   # an unreadable path, not a crash
    assert parallel.read([]) == []
    assert [p.text for p in parallel.read(images[:1])] == [one[0].text]   # fewer images than workers
    # the attributes are the model's
    assert parallel.langs == mstr.load(V4_BUNDLE).langs and parallel.refiner is not None
    with pytest.raises(AttributeError, match="mstr.load"):   # not silently ignored by the workers
        parallel.refine_mode = "greedy"


def test_a_closed_reader_says_so():
    rec = mstr.load(None, workers=2, worker_threads=1, refiner=False)
    rec.close()
    rec.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        rec.read(_noise(2))


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": 0}, "at least 1"),
    ({"workers": 2.5}, "whole number"),
    ({"workers": 2, "backend": "onnx"}, "torch backend"),
    ({"workers": 2, "device": "cuda"}, "CPU"),
])
def test_what_workers_cannot_do_is_refused(kwargs, message):
    with pytest.raises(UserError, match=message):
        mstr.load(None, **kwargs)


def test_a_broken_bundle_fails_before_any_worker_starts(tmp_path):
    with pytest.raises(UserError):
        mstr.load(tmp_path, workers=2)

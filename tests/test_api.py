"""mstr.api: mstr.load's keyword arguments reach the reader (one RefineSettings value, the decoding
settings, the lexicon, the workers' own load), and bad arguments fail before a model loads."""
from __future__ import annotations

import pytest
from conftest import tiny_bundle

import mstr
import mstr.reading.parallel as parallel_module
from mstr.api import BACKENDS, check_device, default_bundle_path
from mstr.errors import UserError
from mstr.reading.refine_policy import RefineSettings


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random bundle with a Refiner (test_bundle's builder)."""
    return tiny_bundle(tmp_path_factory.mktemp("api") / "bundle", langs=("en",))


def test_keywords_reach_the_reader(tiny):
    rec = mstr.load(tiny, refine_policy="joint", refine_mode="greedy", refine_below=0.7, refine_ratio=None,
                    script_consistency=False, script_margin=3)
    assert rec.refine_settings == RefineSettings("joint", "greedy", 0.7, None)
    assert (rec.refine_policy, rec.refine_mode, rec.refine_below, rec.refine_ratio) == ("joint", "greedy", 0.7, None)
    assert rec.script_consistency is False and rec.script_margin == 3.0 and rec.lexicon is None
    assert rec.name == "tiny" and rec.refiner is not None and rec.bf16 is False
    spot = mstr.load(tiny, refiner=False, bf16=True)
    assert spot.refiner is None and spot.bf16 is True and spot.refine_settings == RefineSettings()


def test_a_lexicon_keyword_reaches_the_reader(tiny, tmp_path):
    pytest.importorskip("rapidfuzz")
    words = tmp_path / "words.txt"
    words.write_text("hello\nworld\n", encoding="utf-8")
    rec = mstr.load(tiny, lexicon=words)
    assert rec.lexicon.words == ["hello", "world"]


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(refine_policy="sometimes"), ValueError, "refine_policy must be one of"),
    (dict(refine_ratio=1.5), ValueError, "refine_ratio must be in"),
    (dict(script_margin=-1), UserError, "script_margin must be a number of at least 0"),
    (dict(device="gpu"), UserError, "unknown device 'gpu'"),
    (dict(lexicon="no-such-words.txt"), UserError, "lexicon no-such-words.txt does not exist"),
])
def test_bad_arguments_fail_before_the_model_loads(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):   # (the folder does not exist: it was never opened)
        mstr.load(tmp_path / "nowhere", **kwargs)


def test_backend_is_checked(tiny):
    assert BACKENDS == ("torch", "onnx", "onnx-int8")
    with pytest.raises(UserError, match="backend must be one of torch, onnx, onnx-int8, got 'tpu'"):
        mstr.load(tiny, backend="tpu")
    with pytest.raises(UserError, match="needs the folder of an ONNX export"):
        mstr.load(None, backend="onnx")
    with pytest.raises(UserError, match="is a model bundle, not an ONNX export"):
        mstr.load(tiny, backend="onnx")


def test_devices_are_checked():
    assert check_device("cpu") == "cpu"
    with pytest.raises(UserError, match="unknown device"):
        check_device("gpu")
    with pytest.raises(UserError, match="not supported"):
        check_device("meta")
    assert (default_bundle_path() / "config.json").is_file()


def test_workers_load_with_the_same_keywords(tiny, monkeypatch):
    seen = {}

    class FakeParallel:
        def __init__(self, local, load_kwargs, workers, threads):
            seen.update(local=local, load_kwargs=load_kwargs, workers=workers, threads=threads)

    monkeypatch.setattr(parallel_module, "ParallelReader", FakeParallel)
    monkeypatch.setattr(parallel_module, "cpu_cores", lambda: 8)
    mstr.load(tiny, workers=3, worker_threads=2, refine_policy="always", refine_ratio=None, script_margin=1.5,
              turn_tall=2.0)
    assert seen["workers"] == 3 and seen["threads"] == 2
    assert seen["load_kwargs"] == {"path": tiny, "refiner": True, "device": "cpu", "bf16": None, "backend": "torch",
                                   "refine_policy": "always", "refine_mode": "auto", "refine_below": None,
                                   "refine_ratio": None, "script_consistency": True, "script_margin": 1.5,
                                   "turn_tall": 2.0}
    assert seen["local"].refine_settings == RefineSettings(policy="always", ratio=None)
    assert seen["local"].turn_tall == 2.0
    with pytest.raises(UserError, match="workers > 1 reads with the torch backend only"):
        mstr.load(tiny, workers=2, backend="onnx")

"""``mstr bench`` on a tiny random bundle: the JSON report has its fields and sane numbers."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import noise_png, tiny_bundle
import torch

import mstr.cli.main as cli_main

FAST = ["--n", "4", "--batch", "2", "--repeats", "2"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return tiny_bundle(tmp_path_factory.mktemp("bench") / "bundle", langs=["en"], max_len=8)


def _onnx_available():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _check_result(r):
    assert r["latency_ms"]["median"] > 0 and r["latency_ms"]["p90"] >= r["latency_ms"]["median"]
    assert r["throughput_wps"] > 0 and r["batch"] == 2 and r["words"] == 4
    assert r["mean_chars"] >= 0


def test_bench_json_fields_and_numbers(bundle, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli_main.main(["bench", "--bundle", str(bundle), "--threads", "1", *FAST, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    m = report["machine"]
    assert m["cpu"] and m["threads"] == 1 and m["torch"] == torch.__version__ and m["logical_cpus"] >= 1
    params, flops = report["model"]["params"], report["model"]["flops_per_word"]
    assert params["spotter"] > 0 and params["refiner"] > 0 and params["bank"] == params["bank_entries"] * 32
    assert flops["spotter"] > 0
    assert 0 < flops["refiner_cached_typical"] <= flops["refiner_cached_max"]
    assert 0 < flops["refiner_torch_typical"] <= flops["refiner_torch_max"]
    names = [r["name"] for r in report["results"]]
    expected = ["spotter torch fp32", "spotter torch bf16", "spotter+refiner torch fp32", "spotter+refiner torch bf16"]
    if _onnx_available():
        expected += ["spotter onnx fp32", "spotter onnx int8", "spotter+refiner onnx fp32", "spotter+refiner onnx int8"]
        assert report["onnx_note"] is None
    assert set(expected) <= set(names)
    for r in report["results"]:
        _check_result(r)
        if r["name"] == "spotter onnx fp32":
            assert r["agreement"] == 100.0  # float32 graphs read as torch does
    steps = report["refiner_steps"]
    assert [row["steps"] for row in steps] == [1, 2, 4, 8] and all(row["torch_fp32_ms"] > 0 for row in steps)
    text = capsys.readouterr().out
    assert "| configuration |" in text and "spotter torch bf16 channels-last" in text and "MFLOPs per word" in text
    # the refine mode of each pipeline: the default reads in parallel passes, and is timed against
    # greedy decoding, which reads the same words
    by_name = {r["name"]: r for r in report["results"]}
    assert by_name["spotter torch fp32"]["refine"] is None
    assert by_name["spotter+refiner torch fp32"]["refine"] == "joint-edit1/parallel, ratio 0.2"
    assert by_name["spotter+refiner torch bf16 channels-last"]["refine"] == "joint-edit1/parallel, ratio 0.2"
    greedy = by_name["spotter+refiner torch fp32 greedy"]
    assert greedy["refine"] == "joint-edit1/greedy, ratio 0.2" and greedy["agreement"] == 100.0
    assert "spotter+refiner torch bf16 channels-last greedy" in by_name
    if _onnx_available():
        assert by_name["spotter+refiner onnx fp32"]["refine"] == "joint-edit1/greedy, ratio 0.2"
    assert "| joint-edit1/parallel, ratio 0.2 |" in text


@pytest.mark.slow
def test_bench_refine_options(bundle, tmp_path):
    out = tmp_path / "bench.json"
    assert cli_main.main(["bench", "--bundle", str(bundle), "--no-onnx", *FAST, "--refine-policy", "joint",
                          "--refine-below", "0.5", "--refine-ratio", "0.1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    refine = {r["name"]: r["refine"] for r in results}
    assert refine["spotter+refiner torch fp32"] == "joint/greedy, ratio 0.1, below 0.5"  # auto: greedy with joint
    assert not any(name.endswith("greedy") for name in refine)  # nothing to compare against
    assert cli_main.main(["bench", "--bundle", str(bundle), "--no-onnx", *FAST, "--refine-mode", "parallel",
                          "--refine-policy", "always", "--refine-ratio", "off", "--json", str(out)]) == 0
    refine = {r["name"]: r["refine"] for r in json.loads(out.read_text())["results"]}
    assert refine["spotter+refiner torch bf16"] == "always/parallel"
    assert refine["spotter+refiner torch fp32 greedy"] == "always/greedy"


@pytest.mark.slow
def test_bench_real_crops_from_lmdb(bundle, tmp_path):
    from mstr.data.lmdb import LmdbWriter

    rng = np.random.default_rng(0)
    lmdb_dir = tmp_path / "LMDB" / "en" / "test_lmdb"
    with LmdbWriter(lmdb_dir) as writer:
        for label in ("a", "to", "cat", "word", "signs", "bazaar", "abcdefghijk", "longerwordhere"):
            writer.add(noise_png((20 + 8 * len(label), 24), rng), label, lang="en")
    out = tmp_path / "b.json"
    assert cli_main.main(["bench", "--bundle", str(bundle), "--no-onnx", *FAST, "--lmdb", str(tmp_path),
                          "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert "ONNX rows skipped" in report["onnx_note"]
    assert all(r["backend"] == "torch" for r in report["results"])
    real = report["real"]
    assert real["images"] == 8 and real["decode_ms"] > 0 and real["preprocess_ms"] > 0
    assert {r["name"] for r in real["read"]} >= {"spotter torch fp32", "spotter+refiner torch fp32"}
    assert all(r["words_per_s"] > 0 and 0 <= r["exact_match"] <= 100 for r in real["read"])
    lengths = [row["length"] for row in real["by_length"]]
    assert lengths == ["1-3", "4-6", "10-12", "13+"]
    assert all(row["spotter torch fp32"] > 0 for row in real["by_length"])
    assert "real crops" in report["settings"]["inputs"]


@pytest.mark.slow
def test_bench_workers_and_tesseract_rows(bundle, tmp_path, monkeypatch):
    """--workers 2 adds the whole pipeline read by two processes (float32 and bf16), reading as one
    process does; --tesseract adds Tesseract on the same crops (a stub here: the command line is
    tested in test_compare.py) and every row as a multiple of its words/s."""
    import time

    import mstr.engines.tesseract as tess
    from mstr.data.lmdb import LmdbWriter
    from mstr.reading.prediction import Prediction

    told = []

    class SlowTesseract:
        def __init__(self, langs, *, threads=1, **kwargs):
            told.append((list(langs), threads))

        def read(self, images, langs=None):
            time.sleep(0.01 * len(images))
            return [Prediction(text="to", confidence=0.5, script="Latn") for _ in images]

    monkeypatch.setattr(tess, "TesseractEngine", SlowTesseract)
    rng = np.random.default_rng(1)
    with LmdbWriter(tmp_path / "LMDB" / "en" / "test_lmdb") as writer:
        for label in ("a", "to", "cat", "word", "signs", "to"):
            writer.add(noise_png((20 + 8 * len(label), 24), rng), label, lang="en")
    out = tmp_path / "b.json"
    assert cli_main.main(["bench", "--bundle", str(bundle), "--no-onnx", *FAST, "--lmdb", str(tmp_path),
                          "--threads", "2", "--workers", "2", "--tesseract", "--json", str(out)]) == 0
    rows = {r["name"]: r for r in json.loads(out.read_text())["real"]["read"]}
    tesseract = rows["tesseract (2 processes, told each crop's language)"]
    assert told == [(["en"], 2)] and tesseract["exact_match"] == pytest.approx(100 * 2 / 6)
    assert tesseract["x_tesseract"] == pytest.approx(1.0)
    one, two = rows["spotter+refiner torch fp32"], rows["spotter+refiner torch fp32, 2 workers"]
    assert two["exact_match"] == one["exact_match"] and "spotter+refiner torch bf16, 2 workers" in rows
    assert all(r["x_tesseract"] == pytest.approx(r["words_per_s"] / tesseract["words_per_s"]) for r in rows.values())
    assert cli_main.main(["bench", "--bundle", str(bundle), "--no-onnx", *FAST, "--tesseract"]) == 2  # no crops


def test_bench_user_errors(bundle, tmp_path, capsys):
    assert cli_main.main(["bench", "--bundle", str(tmp_path / "missing"), *FAST]) == 2
    assert "not found" in capsys.readouterr().err
    assert cli_main.main(["bench", "--bundle", str(bundle), "--manifest", str(tmp_path / "m.jsonl"), *FAST]) == 2
    assert "--root" in capsys.readouterr().err
    assert cli_main.main(["bench", "--bundle", str(bundle), "--lmdb", str(tmp_path / "none"), *FAST]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli_main.main(["bench", "--bundle", str(bundle), "--threads", "0", *FAST]) == 2
    assert "--threads" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main.main(["bench", "--bundle", str(bundle), "--refine-below", "2", *FAST])
    assert "--refine-below" in capsys.readouterr().err


def test_bench_help_explains(capsys):
    with pytest.raises(SystemExit) as info:
        cli_main.main(["bench", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "--threads" in text and "--json" in text and "words/s" in text and "--lmdb" in text


def test_bench_without_onnxruntime_skips_onnx_rows(bundle, tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime → ImportError
    out = tmp_path / "b.json"
    assert cli_main.main(["bench", "--bundle", str(bundle), *FAST, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert "not installed" in report["onnx_note"] and report["machine"]["onnxruntime"] is None
    assert all(r["backend"] == "torch" for r in report["results"])
    assert "ONNX rows skipped" in capsys.readouterr().out
    assert cli_main.main(["bench", "--bundle", str(bundle), *FAST, "--onnx", str(tmp_path)]) == 2
    assert "onnxruntime" in capsys.readouterr().err


def test_busy_warning():
    from mstr.bench import busy_warning

    assert busy_warning({"loadavg_at_start": [0.1, 0.1, 0.1], "logical_cpus": 2, "threads": 2}) is None
    assert "oversubscribed" in busy_warning({"loadavg_at_start": [2.0, 2, 2], "logical_cpus": 2, "threads": 2})
    assert busy_warning({"loadavg_at_start": [1.0, 1, 1], "logical_cpus": 8, "threads": 2}).startswith("note")
    assert busy_warning({"loadavg_at_start": None, "logical_cpus": 2, "threads": 1}) is None

"""mstr.bundle (with the other folder formats read through its read_config: baseline bundles, ONNX
exports): save/load round trip, checksum refusal, and read_config errors that name the file."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_REFINER, TINY_SPOTTER, tiny_bank

from mstr.bank import PAD_ID
from mstr.baseline_bundle import read_baseline_config
from mstr.bundle import file_checksums, load_bundle, read_config, save_bundle
from mstr.errors import UserError
from mstr.models.refiner import Refiner, RefinerConfig
from mstr.models.spotter import Spotter, SpotterConfig
from mstr.onnx.format import find_export, read_export
from mstr.reading.recognizer import Recognizer

def tiny_parts(seed: int = 0):
    """A tiny random Spotter, its English bank and a Refiner: the models of conftest's
    ``tiny_bundle(folder, langs=("en",))`` (same seed, same draws in the same order)."""
    torch.manual_seed(seed)
    bank = tiny_bank(("en",), seed=None)
    return (Spotter(SpotterConfig(dim=bank.dim, max_len=10, **TINY_SPOTTER), bank.vectors, PAD_ID), bank,
            Refiner(RefinerConfig(dim=bank.dim, max_len=10, **TINY_REFINER), bank.vectors, PAD_ID))


@pytest.fixture(scope="module")
def parts():
    return tiny_parts()


@pytest.fixture()
def bundle(parts, tmp_path):
    spotter, bank, refiner = parts
    return save_bundle(tmp_path / "bundle", spotter=spotter, bank=bank, refiner=refiner, name="tiny",
                       extra={"note": "kept"})


def crops(n: int = 5):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (24, 90, 3), dtype=np.uint8), "RGB") for _ in range(n)]


def test_round_trip_reads_as_the_models_saved(parts, bundle):
    spotter, bank, refiner = parts
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["format"] == "mstr-bundle" and cfg["name"] == "tiny" and cfg["note"] == "kept"
    assert cfg["sha256"] == file_checksums(bundle) and "refiner.safetensors" in cfg["sha256"]
    rec = load_bundle(bundle)
    assert rec.name == "tiny" and rec.bank.fingerprint() == bank.fingerprint() and rec.refiner is not None
    want = Recognizer(spotter, bank, refiner).read(crops())
    assert [(p.text, p.confidence) for p in rec.read(crops())] == [(p.text, p.confidence) for p in want]
    assert load_bundle(bundle, refiner=False).refiner is None


def test_changed_weights_are_refused_naming_the_file(bundle):
    path = bundle / "spotter.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="spotter.safetensors is damaged"):
        load_bundle(bundle)


def test_read_config_errors_name_the_file(tmp_path):
    with pytest.raises(UserError, match="nowhere not found \\(a bundle is a folder with config.json, bank/"):
        read_config(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="is not a model bundle: config.json is missing"):
        read_config(tmp_path / "empty")
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="config.json is not valid JSON"):
        read_config(folder)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="config.json: expected a JSON object, found list"):
        read_config(folder)
    (folder / "config.json").write_text(json.dumps({"format": "mstr-bundle", "format_version": 9}))
    with pytest.raises(UserError, match=r"config.json: not an mstr-bundle v1 config \(format='mstr-bundle', "
                                        r"version=9\)"):
        read_config(folder)


def test_an_mstr_bundle_is_not_a_baseline_bundle(bundle):
    with pytest.raises(UserError, match="not an mstr-baseline-bundle v1 config.*an mSTR bundle: use it with --bundle"):
        read_baseline_config(bundle)


def test_a_bundle_is_not_an_onnx_export(bundle, tmp_path):
    with pytest.raises(UserError, match="is a model bundle, not an ONNX export"):
        find_export(bundle)
    (bundle / "onnx.json").write_text(json.dumps({"format": "mstr-bundle", "format_version": 1}))
    with pytest.raises(UserError, match=r"onnx.json: not an mstr-onnx v1 config.*a model bundle: export it"):
        read_export(find_export(bundle))
    (bundle / "onnx.json").write_text(json.dumps({"format": "mstr-onnx", "format_version": 1}))
    (bundle / "config.json").write_text("{")
    with pytest.raises(UserError, match="config.json is not valid JSON"):
        read_export(bundle)

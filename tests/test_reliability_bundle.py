"""Model bundles: checksummed weights, checked metadata, whole-or-nothing saves (issue 19, item 8)."""
from __future__ import annotations

import json
import logging
import pickle
import shutil

import pytest
from conftest import V4_BUNDLE

import mstr
from mstr.api import default_bundle_path
from mstr.bundle import file_checksums, load_bundle, save_bundle
from mstr.errors import UserError


@pytest.fixture
def bundle(tmp_path):
    """A copy of the shipped v4 bundle (Spotter + Refiner, small and quick to load)."""
    dst = tmp_path / "bundle"
    shutil.copytree(V4_BUNDLE, dst)
    return dst


def _edit_config(folder, change):
    path = folder / "config.json"
    cfg = json.loads(path.read_text(encoding="utf-8"))
    change(cfg)
    path.write_text(json.dumps(cfg), encoding="utf-8")


@pytest.mark.parametrize("folder, refiner", [(default_bundle_path(), False), (V4_BUNDLE, True)],
                         ids=["default", "v4"])
def test_the_shipped_bundles_carry_checksums_of_every_weight_file(folder, refiner):
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert cfg["sha256"] == file_checksums(folder)
    weights = {"bank/bank.json", "bank/bank.safetensors", "spotter.safetensors"}
    assert set(cfg["sha256"]) == weights | ({"refiner.safetensors"} if refiner else set())


def test_flipped_bytes_in_the_weights_are_refused(bundle):
    path = bundle / "spotter.safetensors"
    data = bytearray(path.read_bytes())
    for i in range(len(data) - 4000, len(data) - 3990):  # inside the tensors, past the header
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="spotter.safetensors is damaged") as info:
        mstr.load(bundle)
    assert "\n" not in str(info.value) and "copy the bundle again" in str(info.value)


def test_a_bundle_without_checksums_still_loads(bundle):
    _edit_config(bundle, lambda cfg: cfg.pop("sha256"))
    crop = V4_BUNDLE.parents[4] / "samples" / "demo" / "real" / "1017_2.png"
    reference = mstr.load(V4_BUNDLE, refiner=False).read(crop)[0]
    assert mstr.load(bundle, refiner=False).read(crop)[0].text == reference.text != ""


def test_without_the_refiner_its_checksum_is_not_needed(bundle):
    (bundle / "refiner.safetensors").unlink()
    assert mstr.load(bundle, refiner=False).refiner is None
    with pytest.raises(UserError, match="refiner.safetensors is missing"):
        mstr.load(bundle)


@pytest.mark.parametrize("change, words", [
    (lambda cfg: cfg.update(charset_fingerprint="0" * 64), "charsets"),
    (lambda cfg: cfg.update(langs=cfg["langs"][:-1]), "langs"),
    (lambda cfg: cfg["sha256"].update({"../../etc/passwd": "0" * 64}), "outside the bundle"),
])
def test_edited_metadata_is_refused(bundle, change, words):
    _edit_config(bundle, change)
    with pytest.raises(UserError, match=words):
        mstr.load(bundle, refiner=False)


def test_a_newer_mstr_version_is_warned_about(bundle, caplog):
    _edit_config(bundle, lambda cfg: cfg["versions"].update(mstr="99.0.0"))
    with caplog.at_level(logging.WARNING, logger="mstr.bundle"):
        mstr.load(bundle, refiner=False)
    assert "newer than this mstr" in caplog.text


def test_a_pickle_named_as_the_weights_is_not_unpickled(bundle, tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"x": 1})
    (bundle / "spotter.safetensors").write_bytes(payload)
    with pytest.raises(UserError, match="damaged"):
        mstr.load(bundle)
    _edit_config(bundle, lambda cfg: cfg.pop("sha256"))
    with pytest.raises(UserError, match="not a readable safetensors"):
        mstr.load(bundle)
    assert not marker.exists()


def test_an_interrupted_save_leaves_the_previous_bundle(bundle, monkeypatch):
    rec = load_bundle(bundle)
    before = file_checksums(bundle)
    (bundle / "onnx").mkdir()
    (bundle / "onnx" / "keep.txt").write_text("an export")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("mstr.bundle.save_weights", boom)
    with pytest.raises(KeyboardInterrupt):
        save_bundle(bundle, spotter=rec.spotter, bank=rec.bank, refiner=rec.refiner)
    assert file_checksums(bundle) == before and not list(bundle.parent.glob(".bundle.partial-*"))
    monkeypatch.undo()
    save_bundle(bundle, spotter=rec.spotter, bank=rec.bank)  # now without a Refiner
    cfg = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
    assert cfg["sha256"] == file_checksums(bundle) and "refiner.safetensors" not in cfg["sha256"]
    assert not (bundle / "refiner.safetensors").exists()
    assert (bundle / "onnx" / "keep.txt").read_text() == "an export"  # other files are kept
    assert load_bundle(bundle).refiner is None


def test_two_saves_into_one_folder_do_not_both_succeed(bundle, tmp_path):
    from mstr.atomic import output_lock

    rec = load_bundle(bundle, refiner=False)
    out = tmp_path / "new"
    with output_lock(out, "model bundle"):  # as another process saving there now would hold it
        with pytest.raises(UserError, match="another mstr process"):
            save_bundle(out, spotter=rec.spotter, bank=rec.bank)
    save_bundle(out, spotter=rec.spotter, bank=rec.bank)
    assert load_bundle(out).bank.fingerprint() == rec.bank.fingerprint()

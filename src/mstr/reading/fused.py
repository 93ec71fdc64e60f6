"""Fused CPU kernels for reading with a PP-OCRv6 encoder in bfloat16 (inference only).

Most of the PP-OCRv6 encoder's time on a CPU is not its convolutions' arithmetic but the passes over
memory around them: the GELU after every expanding 1×1 convolution, the residual additions, the
stem's ReLUs, paddings and max-pool. oneDNN can apply an activation or an addition while a
convolution writes its output; torch exposes that as ``torch.ops.mkldnn._convolution_pointwise``
(the kernels ``torch.compile`` emits for CPUs). :func:`fuse_ppocr_encoder` swaps the stem and the
blocks of a bfloat16 encoder for modules that call them, sharing the original convolutions'
weights. The result equals the plain modules' up to bfloat16 rounding (a fused activation reads
the float32 accumulator instead of a rounded copy): ``tests/test_fast_inference.py`` bounds the
difference, and ``docs/speed.md`` gives the readings' agreement on the dev sets.

Where the op is missing or refuses the tensors (another torch build, a CPU without oneDNN
bfloat16), nothing is swapped and the encoder reads as before.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from mstr.models.ppocr import PPOCRv6Backbone, _BranchStem, _Block, _max_pool_2x2_same, _PlainStem, _same_pad

__all__ = ["fused_kernels_available", "fuse_ppocr_encoder"]


def _conv(x: torch.Tensor, conv: nn.Conv2d, attr: str = "none", algorithm: str | None = None) -> torch.Tensor:
    """``conv(x)`` followed by the activation ``attr`` (``none``, ``relu``, ``gelu``), in one kernel."""
    return torch.ops.mkldnn._convolution_pointwise(x, conv.weight, conv.bias, list(conv.padding), list(conv.stride),
                                                   list(conv.dilation), conv.groups, attr, [], algorithm)


def _conv_add(x: torch.Tensor, other: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``other + conv(x)`` in one kernel."""
    return torch.ops.mkldnn._convolution_pointwise.binary(
        x, other, conv.weight, conv.bias, list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups,
        "add", None, None, [], None)


@functools.lru_cache(maxsize=None)
def fused_kernels_available() -> bool:
    """Whether this torch runs the fused convolutions on bfloat16 channels-last tensors here."""
    try:
        conv = nn.Conv2d(4, 4, 1).to(torch.bfloat16)
        x = torch.ones(1, 4, 2, 2, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            y = _conv_add(_conv(x, conv, "gelu", "none"), x, conv)
        return tuple(y.shape) == (1, 4, 2, 2) and bool(torch.isfinite(y.float()).all())
    except Exception:  # noqa: BLE001 - any refusal means: read with the plain modules
        return False


class _FusedBranchStem(nn.Module):
    """:class:`~mstr.models.ppocr._BranchStem` with each convolution's ReLU fused (the 2×2 "SAME"
    convolutions are padded as there, by :func:`~mstr.models.ppocr._same_pad`)."""

    def __init__(self, stem: _BranchStem) -> None:
        super().__init__()
        self.plain = stem

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.plain
        x = _conv(x.to(s.stem1.weight.dtype), s.stem1, "relu")
        conv = _conv(_same_pad(_conv(_same_pad(x), s.stem2a, "relu")), s.stem2b, "relu")
        x = _conv(torch.cat([_max_pool_2x2_same(x), conv], dim=1), s.stem3, "relu")
        return _conv(x, s.stem4, "relu")


class _FusedPlainStem(nn.Module):
    """:class:`~mstr.models.ppocr._PlainStem` with the GELU fused into its first convolution."""

    def __init__(self, stem: _PlainStem) -> None:
        super().__init__()
        self.plain = stem

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.plain
        return _conv(_conv(x.to(s.conv1.weight.dtype), s.conv1, "gelu", "none"), s.conv2)


class _FusedBlock(nn.Module):
    """:class:`~mstr.models.ppocr._Block` with the GELU fused into the expanding convolution and the
    residual addition into the compressing one."""

    def __init__(self, block: _Block) -> None:
        super().__init__()
        self.plain = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.plain
        x = _conv(x, b.dw)
        if b.se is not None:
            x = b.se(x)
        hidden = _conv(x, b.expand, "gelu", "none")
        return _conv_add(hidden, x, b.compress) if b.residual else _conv(hidden, b.compress)


def fuse_ppocr_encoder(encoder: nn.Module) -> bool:
    """Swap, in place, the stem and blocks of a PP-OCRv6 ``encoder`` whose convolutions hold
    bfloat16 weights for their fused forms (sharing the weights). Returns whether it did: False
    for other encoders, float32 weights, or where :func:`fused_kernels_available` is False."""
    if not isinstance(encoder, PPOCRv6Backbone) or not fused_kernels_available():
        return False
    if any(m.weight.dtype != torch.bfloat16 for m in encoder.modules() if isinstance(m, nn.Conv2d)):
        return False
    if isinstance(encoder.stem, _BranchStem):
        encoder.stem = _FusedBranchStem(encoder.stem)
    elif isinstance(encoder.stem, _PlainStem):
        encoder.stem = _FusedPlainStem(encoder.stem)
    for stage in encoder.stages:
        for i, block in enumerate(stage):
            if isinstance(block, _Block):
                stage[i] = _FusedBlock(block)
    return True

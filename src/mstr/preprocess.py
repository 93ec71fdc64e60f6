"""The one preprocessing function, shared by training, evaluation and reading."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image

__all__ = ["preprocess", "to_tensor", "resize_rgb"]


def resize_rgb(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` as RGB resized to ``size = (H, W)``.

    The resize ignores the aspect ratio (as PARSeq and deep-text-recognition-benchmark do): a word
    crop always fills the model's input. Bilinear filtering, with Pillow's reducing gap for
    large downscales.
    """
    h, w = size
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != (w, h):
        image = image.resize((w, h), Image.BILINEAR, reducing_gap=3.0)
    return image


def to_tensor(image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """One RGB image → float tensor ``3, H, W`` in [-1, 1], resized by :func:`resize_rgb`."""
    arr = np.asarray(resize_rgb(image, size), dtype=np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1).div_(127.5).sub_(1.0)


def preprocess(images: Sequence[Image.Image], size: tuple[int, int]) -> torch.Tensor:
    """A batch of RGB images → ``B, 3, H, W`` float tensor in [-1, 1]."""
    return torch.stack([to_tensor(im, size) for im in images])

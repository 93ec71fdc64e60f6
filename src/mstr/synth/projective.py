"""Recipe v2's geometry: rotation, shear and perspective folded into one projective warp.

v1 (:func:`mstr.synth.augment.warp_masks`) applies each warp as its own resampling of the mask
stack; v2 composes the three into a single homography (one PIL transform, one interpolation,
so also less blur) after an optional curved baseline, then crops to the ink.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from mstr.synth.augment import _perspective_coeffs, curve

__all__ = ["warp", "DEFAULT_PROBS"]

#: warp name -> probability (each drawn independently)
DEFAULT_PROBS = {"rotate": 0.4, "curve": 0.2, "perspective": 0.45, "shear": 0.25}


def _stack(masks: np.ndarray) -> Image.Image:
    """``C, H, W`` uint8 (C ≤ 3) as one PIL image (L or RGB)."""
    c = masks.shape[0]
    if c == 1:
        return Image.fromarray(masks[0])
    rgb = np.zeros(masks.shape[1:] + (3,), np.uint8)
    rgb[..., :c] = masks.transpose(1, 2, 0)
    return Image.fromarray(rgb)


def warp(masks: np.ndarray, rng: np.random.Generator, probs: dict[str, float] | None = None,
         max_deg: float = 6.0, max_shear: float = 0.3, strength: float = 0.12) -> np.ndarray:
    """Warp a ``C, H, W`` uint8 mask stack (C ≤ 3) and crop it to its ink.

    Curve (arc or sine baseline) first, then one homography taking the corners through a
    rotation by up to ``max_deg``, a horizontal shear up to ``max_shear`` and a perspective
    jitter of each corner by up to ``strength`` × height, each applied with its probability.
    """
    p = {**DEFAULT_PROBS, **(probs or {})}
    if rng.random() < p["curve"]:
        masks = curve(masks, rng)
    c, h, w = masks.shape
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    dst = src - [w / 2, h / 2]
    moved = False
    if rng.random() < p["rotate"]:
        a = np.deg2rad(rng.uniform(-max_deg, max_deg))
        dst = dst @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
        moved = True
    if rng.random() < p["shear"]:
        dst = dst + np.outer(dst[:, 1], [rng.uniform(-max_shear, max_shear), 0.0])
        moved = True
    if rng.random() < p["perspective"]:
        dst = dst + rng.uniform(-strength * h, strength * h, (4, 2))
        moved = True
    img = _stack(masks)
    if moved:
        dst -= dst.min(axis=0)
        size = (int(np.ceil(dst[:, 0].max())) + 1, int(np.ceil(dst[:, 1].max())) + 1)
        img = img.transform(size, Image.PERSPECTIVE, tuple(_perspective_coeffs(dst, src)), Image.BILINEAR)
    box = img.getbbox()
    if box is not None:
        img = img.crop(box)
    arr = np.asarray(img)
    return arr[None].copy() if arr.ndim == 2 else arr.transpose(2, 0, 1)[:c].copy()

"""Recipe v2's camera finish: what optics, sensor and compression do to a crop, on uint8 images.

v1 applies each photometric effect to a float image and converts to and from 8 bits around
every PIL filter; v2 converts once and runs the chain in Pillow, in the order a camera does:
contrast/gamma (the scene and exposure), occlusion, one loss of sharpness (low resolution by
down and up-sampling, optical blur or motion blur), sensor noise, JPEG. ``finish(img, rng)`` → a PIL RGB image.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from mstr.synth.augment import motion_kernel, to_uint8

__all__ = ["finish", "CAMERA_PROBS"]

#: effect → probability, applied in this order; the three blurs exclude each other (one draw)
CAMERA_PROBS = {"contrast": 0.3, "occlusion": 0.05, "down_up": 0.25, "gaussian_blur": 0.25,
                "motion_blur": 0.1, "noise": 0.25, "jpeg": 0.3}


def finish(img: np.ndarray, rng: np.random.Generator, probs: dict[str, float] | None = None) -> Image.Image:
    """``img`` float32 ``H, W, 3`` in [0, 1] (any range; clipped) through the camera chain."""
    p = {**CAMERA_PROBS, **(probs or {})}
    h, w = img.shape[:2]
    if rng.random() < p["contrast"]:
        mean = img.mean(axis=(0, 1), keepdims=True)
        img = np.clip(mean + (img - mean) * np.float32(rng.uniform(0.6, 1.35)), 0, 1) ** np.float32(rng.uniform(0.7, 1.4))
    pil = Image.fromarray(to_uint8(img))
    if rng.random() < p["occlusion"]:
        draw = ImageDraw.Draw(pil)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:   # a wire or bar
            t = max(1, int(h * rng.uniform(0.03, 0.08)))
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            draw.rectangle((0, y, w, y + t - 1) if rng.random() < 0.5 else (x, 0, x + t - 1, h), fill=colour)
        else:                    # a blot
            bw, bh = max(1, int(w * rng.uniform(0.03, 0.1))), max(1, int(h * rng.uniform(0.1, 0.3)))
            x, y = int(rng.integers(0, max(1, w - bw))), int(rng.integers(0, max(1, h - bh)))
            draw.ellipse((x, y, x + bw, y + bh), fill=colour)
    # at most one loss of sharpness: stacked, they leave 32-px Indic glyphs unreadable
    blur = rng.random()
    if blur < p["down_up"]:
        f = rng.uniform(1.2, 2.2)
        small = pil.resize((max(1, round(w / f)), max(1, round(h / f))), Image.BILINEAR)
        pil = small.resize((w, h), Image.NEAREST if rng.random() < 0.3 else Image.BILINEAR)
    elif blur < p["down_up"] + p["gaussian_blur"]:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    elif blur < p["down_up"] + p["gaussian_blur"] + p["motion_blur"]:
        pil = pil.filter(motion_kernel(rng))
    if rng.random() < p["noise"]:
        sigma = rng.uniform(2.0, 12.0)
        shape = (h, w, 3) if rng.random() < 0.5 else (h, w, 1)
        noisy = np.asarray(pil, np.int16) + rng.normal(0.0, sigma, shape).astype(np.int16)
        pil = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    if rng.random() < p["jpeg"]:
        buf = io.BytesIO()
        pil.save(buf, format="JPEG", quality=int(rng.integers(20, 75)))
        buf.seek(0)
        pil = Image.open(buf).convert("RGB")
    return pil

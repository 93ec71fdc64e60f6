"""Augmentations for synthetic crops.

Two families, each drawing only from the ``rng`` passed in:

* geometric warps of the text coverage mask, before it is composited on a background, so the
  background always fills the whole crop: rotation, curved baselines, perspective, shear;
* photometric effects on the final RGB crop (float32 ``H, W, 3`` in [0, 1]): Gaussian and motion
  blur, sensor noise, illumination gradients and cast shadows, a blended second background,
  JPEG compression, down/up-sampling, occlusion, contrast/gamma.

:data:`PHOTOMETRIC` maps each effect's name to ``(function, default probability)``.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from mstr.synth.backgrounds import make_background, random_color

__all__ = ["rotate", "curve", "perspective", "shear", "warp_masks", "PHOTOMETRIC", "GEOMETRIC",
           "apply_photometric", "to_uint8"]


def to_uint8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _from_pil(img: Image.Image) -> np.ndarray:
    return np.asarray(img, np.float32) / 255.0


# --------------------------------------------------------------------------- geometric (masks)
# Each takes a stack of masks ``C, H, W`` (uint8) and returns a warped stack.

def _pil_stack(masks: np.ndarray) -> Image.Image:
    c, h, w = masks.shape
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., :c] = masks.transpose(1, 2, 0)
    return Image.fromarray(rgb)


def _unstack(img: Image.Image, c: int) -> np.ndarray:
    return np.asarray(img).transpose(2, 0, 1)[:c].copy()


def rotate(masks: np.ndarray, rng: np.random.Generator, max_deg: float = 5.0) -> np.ndarray:
    """Rotate by a small random angle, growing the canvas so nothing is cut."""
    angle = rng.uniform(-max_deg, max_deg)
    img = _pil_stack(masks).rotate(angle, resample=Image.BILINEAR, expand=True)
    return _unstack(img, masks.shape[0])


def curve(masks: np.ndarray, rng: np.random.Generator, max_amp: float = 0.18) -> np.ndarray:
    """Bend the baseline along an arc or a sine wave (amplitude ≤ ``max_amp`` × height)."""
    c, h, w = masks.shape
    amp = rng.uniform(0.04, max_amp) * h
    x = np.linspace(-1.0, 1.0, w, dtype=np.float32)
    if rng.random() < 0.6:
        dy = amp * (x ** 2) * rng.choice([-1.0, 1.0])
    else:
        dy = amp * np.sin(np.pi * rng.uniform(0.5, 1.5) * x + rng.uniform(0, 2 * np.pi))
    dy -= dy.min()
    pad = int(np.ceil(dy.max())) + 1
    out_h = h + pad
    rows = np.arange(out_h, dtype=np.float32)[:, None] - dy[None, :]
    r0 = np.floor(rows).astype(np.int64)
    frac = rows - r0
    src = np.zeros((c, h + 2, w), np.float32)
    src[:, 1:-1] = masks
    cols = np.arange(w)[None, :]
    i0 = np.clip(r0 + 1, 0, h + 1)
    i1 = np.clip(r0 + 2, 0, h + 1)
    out = src[:, i0, cols] * (1 - frac) + src[:, i1, cols] * frac
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _perspective_coeffs(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Coefficients mapping output points ``dst`` to input points ``src`` (PIL's convention)."""
    a = []
    b = []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.extend([u, v])
    return np.linalg.solve(np.asarray(a, np.float64), np.asarray(b, np.float64))


def perspective(masks: np.ndarray, rng: np.random.Generator, strength: float = 0.12) -> np.ndarray:
    """A random perspective warp: each corner moves by up to ``strength`` × height."""
    c, h, w = masks.shape
    j = strength * h
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    dst = src + rng.uniform(-j, j, (4, 2))
    dst -= dst.min(axis=0)
    out_w, out_h = int(np.ceil(dst[:, 0].max())) + 1, int(np.ceil(dst[:, 1].max())) + 1
    coeffs = _perspective_coeffs(dst, src)
    img = _pil_stack(masks).transform((out_w, out_h), Image.PERSPECTIVE, tuple(coeffs), Image.BILINEAR)
    return _unstack(img, c)


def shear(masks: np.ndarray, rng: np.random.Generator, max_shear: float = 0.3) -> np.ndarray:
    """Horizontal shear (slanted, italic-like lettering)."""
    c, h, w = masks.shape
    s = rng.uniform(-max_shear, max_shear)
    extra = int(np.ceil(abs(s) * h))
    # PIL's affine maps each output pixel (x, y) to the input pixel (x + s*y + c, y)
    coeffs = (1, s, -extra if s > 0 else 0, 0, 1, 0)
    img = _pil_stack(masks).transform((w + extra, h), Image.AFFINE, coeffs, Image.BILINEAR)
    return _unstack(img, c)


#: name → (function, probability)
GEOMETRIC: dict[str, tuple[Callable, float]] = {
    "rotate": (rotate, 0.35),
    "curve": (curve, 0.15),
    "perspective": (perspective, 0.3),
    "shear": (shear, 0.2),
}


def warp_masks(masks: np.ndarray, rng: np.random.Generator, probs: dict[str, float] | None = None,
               crop_rows: bool = True) -> np.ndarray:
    """Apply each geometric warp with its probability, then crop back to the ink.

    ``crop_rows=False`` crops the columns only, keeping the (warped) line box around the ink.
    """
    for name, (fn, p) in GEOMETRIC.items():
        p = probs.get(name, p) if probs else p
        if rng.random() < p:
            masks = fn(masks, rng)
    ink = masks.max(axis=0)
    ys, xs = np.nonzero(ink > 8)
    if len(ys):
        masks = masks[:, ys.min():ys.max() + 1] if crop_rows else masks
        masks = masks[:, :, xs.min():xs.max() + 1]
    return masks


# --------------------------------------------------------------------------- photometric (RGB)

def gaussian_blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    radius = rng.uniform(0.3, 1.1)
    return _from_pil(Image.fromarray(to_uint8(img)).filter(ImageFilter.GaussianBlur(radius)))


def motion_kernel(rng: np.random.Generator) -> ImageFilter.Kernel:
    """A 3×3 or 5×5 line kernel at a random angle (camera shake)."""
    size = int(rng.choice([3, 5]))
    angle = rng.uniform(0, np.pi)
    k = np.zeros((size, size), np.float32)
    c = size // 2
    for t in np.linspace(-c, c, 4 * size):
        k[int(round(c + t * np.sin(angle))), int(round(c + t * np.cos(angle)))] = 1.0
    return ImageFilter.Kernel((size, size), (k / k.sum()).ravel().tolist(), scale=1.0)


def motion_blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur along a line at a random angle (camera shake), 3×3 or 5×5 kernel."""
    return _from_pil(Image.fromarray(to_uint8(img)).filter(motion_kernel(rng)))


def noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian sensor noise, sometimes per channel, sometimes luminance only."""
    sigma = rng.uniform(0.01, 0.07)
    shape = img.shape if rng.random() < 0.5 else img.shape[:2] + (1,)
    return img + rng.normal(0.0, sigma, shape).astype(np.float32)


def illumination(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven lighting: a linear brightness ramp, or a cast shadow with a soft edge."""
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = (xs - w / 2) * np.cos(angle) + (ys - h / 2) * np.sin(angle)
    t /= max(float(np.abs(t).max()), 1e-6)
    if rng.random() < 0.5:
        lo, hi = rng.uniform(0.55, 0.9), rng.uniform(1.0, 1.25)
        gain = lo + (hi - lo) * (t + 1) / 2
    else:
        edge = rng.uniform(-0.6, 0.6)
        soft = rng.uniform(0.02, 0.3)
        dark = rng.uniform(0.45, 0.8)
        gain = dark + (1 - dark) / (1 + np.exp(-(t - edge) / soft))
    return img * gain[..., None]


def blend_background(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blend a second background over the crop (reflections, dirt, see-through paint)."""
    h, w = img.shape[:2]
    other = make_background(rng, h, w)
    alpha = rng.uniform(0.08, 0.3)
    return img * (1 - alpha) + other * alpha


def jpeg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(to_uint8(img)).save(buf, format="JPEG", quality=int(rng.integers(20, 75)))
    return _from_pil(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def down_up(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lose resolution: shrink by 1.3–2.5× and scale back up."""
    h, w = img.shape[:2]
    f = rng.uniform(1.3, 2.5)
    small = Image.fromarray(to_uint8(img)).resize((max(1, round(w / f)), max(1, round(h / f))), Image.BILINEAR)
    method = Image.NEAREST if rng.random() < 0.3 else Image.BILINEAR
    return _from_pil(small.resize((w, h), method))


def occlusion(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A thin bar, wire or small blot crossing part of the text."""
    h, w = img.shape[:2]
    out = img.copy()
    col = random_color(rng)
    if rng.random() < 0.5:
        thick = max(1, int(h * rng.uniform(0.03, 0.08)))
        if rng.random() < 0.5:
            y = int(rng.integers(0, h))
            out[y:y + thick, :] = col
        else:
            x = int(rng.integers(0, w))
            out[:, x:x + thick] = col
    else:
        bw, bh = max(1, int(w * rng.uniform(0.03, 0.1))), max(1, int(h * rng.uniform(0.1, 0.3)))
        x, y = int(rng.integers(0, max(1, w - bw))), int(rng.integers(0, max(1, h - bh)))
        out[y:y + bh, x:x + bw] = col
    return out


def contrast(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale contrast around the mean and apply a gamma curve."""
    mean = img.mean(axis=(0, 1), keepdims=True)
    out = np.clip(mean + (img - mean) * rng.uniform(0.6, 1.35), 0, 1)
    return out ** rng.uniform(0.7, 1.4)


#: name → (function, probability); applied in this order
PHOTOMETRIC: dict[str, tuple[Callable, float]] = {
    "illumination": (illumination, 0.3),
    "blend_background": (blend_background, 0.15),
    "occlusion": (occlusion, 0.08),
    "contrast": (contrast, 0.3),
    "down_up": (down_up, 0.2),
    "gaussian_blur": (gaussian_blur, 0.2),
    "motion_blur": (motion_blur, 0.12),
    "noise": (noise, 0.3),
    "jpeg": (jpeg, 0.25),
}


def apply_photometric(img: np.ndarray, rng: np.random.Generator, probs: dict[str, float] | None = None) -> np.ndarray:
    """Apply each photometric effect with its probability (``probs`` overrides by name)."""
    for name, (fn, p) in PHOTOMETRIC.items():
        p = probs.get(name, p) if probs else p
        if rng.random() < p:
            img = np.clip(fn(img, rng), 0.0, 1.0)
    return img

"""Procedural backgrounds for synthetic crops: solid, gradient, noise, texture and clutter.

Every function draws only from the ``rng`` it is given, returns float32 RGB in [0, 1] of shape
``H, W, 3``, and never reads files, so generation is deterministic and needs no image assets.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["make_background", "BACKGROUND_KINDS", "random_color"]


def random_color(rng: np.random.Generator) -> np.ndarray:
    """A random RGB colour in [0, 1]."""
    return rng.random(3).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, channels: int = 1) -> np.ndarray:
    """Value noise: a coarse random grid bicubic-upsampled to ``h, w`` (float32 in ~[0, 1])."""
    gh = max(2, int(cells * h / max(h, w)) + 1)
    gw = max(2, cells + 1)
    out = np.empty((h, w, channels), np.float32)
    for c in range(channels):
        grid = (rng.random((gh, gw)) * 255).astype(np.uint8)
        out[..., c] = np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC), np.float32) / 255.0
    return out


def _solid(rng, h, w):
    return np.broadcast_to(random_color(rng), (h, w, 3)).copy()


def _gradient(rng, h, w):
    c0, c1 = random_color(rng), random_color(rng)
    angle = rng.uniform(0, np.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    t = xs * np.cos(angle) + ys * np.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return c0 + (c1 - c0) * t[..., None]


def _noise(rng, h, w):
    base = random_color(rng)
    sigma = rng.uniform(0.03, 0.15)
    return np.clip(base + rng.normal(0, sigma, (h, w, 1)).astype(np.float32), 0, 1)


def _texture(rng, h, w):
    """Multi-octave value noise tinted between two colours (stone, paper, paint, metal)."""
    t = np.zeros((h, w, 1), np.float32)
    amp, total = 1.0, 0.0
    for octave in range(3):
        t += amp * _smooth_noise(rng, h, w, cells=int(rng.integers(2, 5)) * 2 ** octave)
        total += amp
        amp *= 0.5
    t /= total
    if rng.random() < 0.3:  # stripes / wood grain
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        freq = rng.uniform(0.05, 0.4)
        t = 0.6 * t + 0.4 * (0.5 + 0.5 * np.sin(freq * (xs if rng.random() < 0.5 else ys) + 6 * t[..., 0]))[..., None]
    c0, c1 = random_color(rng), random_color(rng)
    c1 = c0 + (c1 - c0) * rng.uniform(0.2, 0.6)
    return c0 + (c1 - c0) * t


def _clutter(rng, h, w):
    """A base background with faint shapes and lines blended in (sign edges, bolts, other text)."""
    img = _BASES[int(rng.integers(len(_BASES)))](rng, h, w)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(int(rng.integers(1, 5))):
        alpha = rng.uniform(0.1, 0.4)
        col = random_color(rng)
        kind = rng.random()
        if kind < 0.4:  # rectangle
            x0, x1 = sorted(rng.integers(0, w, 2))
            y0, y1 = sorted(rng.integers(0, h, 2))
            m = np.zeros((h, w), bool)
            m[y0:y1 + 1, x0:x1 + 1] = True
        elif kind < 0.8:  # line
            a, b = rng.uniform(-1, 1), rng.uniform(0, h)
            m = np.abs(ys - (a * xs + b)) < rng.uniform(0.5, 2.5)
        else:  # circle
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(2, h)
            m = np.abs(np.hypot(xs - cx, ys - cy) - r) < rng.uniform(0.5, 2.0)
        img[m] = img[m] * (1 - alpha) + col * alpha
    return img


_BASES = (_solid, _gradient, _noise, _texture)
_KINDS = {"solid": _solid, "gradient": _gradient, "noise": _noise, "texture": _texture, "clutter": _clutter}
BACKGROUND_KINDS = tuple(_KINDS)
_WEIGHTS = np.array([0.25, 0.2, 0.15, 0.25, 0.15])


def make_background(rng: np.random.Generator, h: int, w: int, kind: str | None = None) -> np.ndarray:
    """A ``h, w, 3`` float32 background of ``kind`` (random by default)."""
    if kind is None:
        kind = BACKGROUND_KINDS[int(rng.choice(len(BACKGROUND_KINDS), p=_WEIGHTS))]
    return _KINDS[kind](rng, h, w).astype(np.float32)

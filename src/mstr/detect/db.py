"""DB post-processing: a text probability map → rotated boxes (numpy only).

:func:`boxes_from_map` follows the inference procedure of "Real-time Scene Text Detection with
Differentiable Binarization" (Liao et al., 2020): binarise the map, take each connected region,
fit the smallest rotated rectangle, score it by the mean probability inside, and grow it by the
offset ``D = A × r / L`` (area A, perimeter L, ratio r) that undoes the shrinking of the training
targets. Coordinates are pixel coordinates of the map (pixel centres at integers) until the end,
where they are scaled to the image.
"""
from __future__ import annotations

import numpy as np

from mstr.detect.geometry import label_components, min_area_rect, order_corners, polygon_mask

__all__ = ["boxes_from_map", "grow_rect", "box_score"]


def _dilate2(mask: np.ndarray) -> np.ndarray:
    """A 2×2 dilation (each True pixel also sets its right, lower and lower-right neighbours)."""
    out = mask.copy()
    out[:, 1:] |= mask[:, :-1]
    out[1:, :] |= mask[:-1, :]
    out[1:, 1:] |= mask[:-1, :-1]
    return out


def _run_points(runs: np.ndarray) -> np.ndarray:
    """The end pixels of a component's runs as ``(x, y)`` points: enough for its convex hull."""
    return np.concatenate([np.stack([runs[:, 1], runs[:, 0]], axis=1),
                           np.stack([runs[:, 2] - 1, runs[:, 0]], axis=1)]).astype(np.float64)


def box_score(prob: np.ndarray, box: np.ndarray) -> float:
    """Mean of ``prob`` over the pixels inside the convex quadrilateral ``box`` (4×2, x/y)."""
    h, w = prob.shape
    x0, y0 = np.clip(np.floor(box.min(axis=0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(box.max(axis=0)).astype(int), 0, [w - 1, h - 1])
    mask = polygon_mask(box - [x0, y0], (y1 - y0 + 1, x1 - x0 + 1))
    region = prob[y0:y1 + 1, x0:x1 + 1]
    return float(region[mask].mean()) if mask.any() else 0.0


def grow_rect(box: np.ndarray, width: float, height: float, ratio: float) -> tuple[np.ndarray, float, float]:
    """Grow a rectangle (corners as :func:`min_area_rect` gives them) by ``D = area × ratio /
    perimeter`` on every side: ``(corners, width + 2D, height + 2D)``."""
    perimeter = 2.0 * (width + height)
    d = width * height * ratio / perimeter if perimeter > 0 else 0.0
    centre = box.mean(axis=0)
    u = (box[1] - box[0]) / width if width > 0 else np.array([1.0, 0.0])
    v = (box[3] - box[0]) / height if height > 0 else np.array([-u[1], u[0]])
    hw, hh = width / 2 + d, height / 2 + d
    grown = np.array([centre - hw * u - hh * v, centre + hw * u - hh * v,
                      centre + hw * u + hh * v, centre - hw * u + hh * v])
    return grown, width + 2 * d, height + 2 * d


def boxes_from_map(prob: np.ndarray, image_size: tuple[int, int], *, thresh: float = 0.3, box_thresh: float = 0.5,
                   unclip_ratio: float = 1.6, min_size: int = 3, max_candidates: int = 1000,
                   dilate: bool = True) -> list[tuple[np.ndarray, float]]:
    """``h, w`` probabilities → ``[(corners 4×2 in image pixels, score)]``, top to bottom then left
    to right. ``image_size``: the image's ``(width, height)``; the map covers the whole image."""
    mh, mw = prob.shape
    mask = prob > thresh
    if dilate:
        mask = _dilate2(mask)
    comps = label_components(mask)
    comps.sort(key=lambda r: -int((r[:, 2] - r[:, 1]).sum()))
    sx, sy = image_size[0] / mw, image_size[1] / mh
    found = []
    for runs in comps[:max_candidates]:
        box, w, h = min_area_rect(_run_points(runs))
        if min(w, h) < min_size:
            continue
        score = box_score(prob, box)
        if score < box_thresh:
            continue
        grown, gw, gh = grow_rect(box, w, h, unclip_ratio)
        if min(gw, gh) < min_size + 2:
            continue
        grown = grown * [sx, sy]
        grown[:, 0] = np.clip(grown[:, 0], 0, image_size[0])
        grown[:, 1] = np.clip(grown[:, 1], 0, image_size[1])
        found.append((order_corners(grown), score))
    found.sort(key=lambda f: (round(float(f[0][:, 1].min()) / 10), float(f[0][:, 0].min())))
    return found

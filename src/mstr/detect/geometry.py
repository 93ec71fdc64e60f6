"""Plane geometry for the detector's post-processing, in numpy only (no OpenCV, no SciPy).

* :func:`label_components`: 8-connected components of a boolean map, by union–find over the
  horizontal runs of each row (a text map has few runs, so the Python loop is short);
* :func:`convex_hull`: Andrew's monotone chain;
* :func:`min_area_rect`: the smallest rotated rectangle around points (rotating calipers over
  the hull's edge directions);
* :func:`polygon_area`, :func:`polygon_mask`, :func:`order_corners`, :func:`quad_iou`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["label_components", "convex_hull", "min_area_rect", "polygon_area", "polygon_mask",
           "order_corners", "quad_iou"]


def _runs(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) columns of the True runs of a 1-D boolean row."""
    padded = np.concatenate(([False], row, [False])).astype(np.int8)
    edges = np.diff(padded)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def label_components(mask: np.ndarray) -> list[np.ndarray]:
    """The 8-connected components of ``H, W`` boolean ``mask``; each an ``N, 3`` int array of
    runs ``(row, start column, end column exclusive)``, in order of their first row."""
    runs: list[tuple[int, int, int]] = []
    parent: list[int] = []

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    prev: list[int] = []  # indices of the previous row's runs
    for y in range(mask.shape[0]):
        starts, ends = _runs(mask[y])
        cur = []
        j = 0
        for s, e in zip(starts.tolist(), ends.tolist()):
            k = len(runs)
            runs.append((y, s, e))
            parent.append(k)
            cur.append(k)
            while j < len(prev) and runs[prev[j]][2] < s:  # runs ending left of s - 1 cannot touch
                j += 1
            m = j
            while m < len(prev) and runs[prev[m]][1] <= e:  # 8-connectivity: overlap within one column
                ra, rb = find(k), find(prev[m])
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
                m += 1
        prev = cur
    groups: dict[int, list[tuple[int, int, int]]] = {}
    for k, run in enumerate(runs):
        groups.setdefault(find(k), []).append(run)
    return [np.asarray(g, dtype=np.int64) for g in groups.values()]


def convex_hull(points: np.ndarray) -> np.ndarray:
    """``N, 2`` points → the hull's vertices, counter-clockwise (y up), no repeats."""
    pts = np.unique(np.asarray(points, dtype=np.float64), axis=0)
    if len(pts) <= 2:
        return pts

    def cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))

    lower: list[np.ndarray] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[np.ndarray] = []
    for p in pts[::-1]:
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.asarray(lower[:-1] + upper[:-1])


def min_area_rect(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The smallest rotated rectangle holding ``N, 2`` points: ``(corners 4×2, width, height)``;
    width is the side along the rectangle's first edge direction."""
    hull = convex_hull(points)
    if len(hull) == 1:
        return np.repeat(hull, 4, axis=0), 0.0, 0.0
    edges = np.roll(hull, -1, axis=0) - hull
    angles = np.unique(np.mod(np.arctan2(edges[:, 1], edges[:, 0]), np.pi / 2))
    best: tuple[float, np.ndarray, float, float] | None = None
    for a in angles:
        c, s = np.cos(a), np.sin(a)
        rot = np.array([[c, s], [-s, c]])  # into the frame whose x axis points along angle a
        p = hull @ rot.T
        lo, hi = p.min(axis=0), p.max(axis=0)
        w, h = hi - lo
        if best is None or w * h < best[0]:
            box = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]]) @ rot
            best = (float(w * h), box, float(w), float(h))
    assert best is not None
    return best[1], best[2], best[3]


def polygon_area(poly: np.ndarray) -> float:
    """Shoelace area of a simple polygon (``N, 2``)."""
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def polygon_mask(poly: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean ``H, W`` mask of the pixels inside convex polygon ``poly`` (``N, 2``, x/y); pixel
    ``(row y, column x)`` is the point ``(x, y)``, as in :func:`label_components`' coordinates."""
    h, w = shape
    py, px = np.mgrid[0:h, 0:w]
    signs = []
    n = len(poly)
    for i in range(n):
        (x0, y0), (x1, y1) = poly[i], poly[(i + 1) % n]
        signs.append((x1 - x0) * (py - y0) - (y1 - y0) * (px - x0))
    s = np.stack(signs)
    return np.all(s >= 0, axis=0) | np.all(s <= 0, axis=0)


def order_corners(box: np.ndarray) -> np.ndarray:
    """Four corners → top-left, top-right, bottom-right, bottom-left (image coordinates, y down)."""
    box = np.asarray(box, dtype=np.float64)
    by_x = box[np.argsort(box[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.array([tl, tr, br, bl])


def quad_iou(a: np.ndarray, b: np.ndarray, grid: float = 1.0) -> float:
    """Intersection over union of two convex quadrilaterals, measured on a pixel grid of step ``grid``."""
    pts = np.vstack([a, b])
    lo, hi = np.floor(pts.min(axis=0)), np.ceil(pts.max(axis=0))
    size = np.maximum(1, np.ceil((hi - lo) / grid)).astype(int)
    ma = polygon_mask((a - lo) / grid, (size[1], size[0]))
    mb = polygon_mask((b - lo) / grid, (size[1], size[0]))
    union = np.logical_or(ma, mb).sum()
    return float(np.logical_and(ma, mb).sum() / union) if union else 0.0

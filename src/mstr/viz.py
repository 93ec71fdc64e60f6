"""Pictures of the embedding space: a 2-D map of the bank, drawn with Pillow.

* :func:`tsne` — exact t-SNE (van der Maaten & Hinton, 2008) in numpy (float64, the
  O(N²) gradient in row blocks that stay in cache):
  Gaussian input affinities with a per-point bandwidth found by binary search so that each
  conditional distribution has the requested perplexity, symmetrised; Student-t output
  affinities; gradient descent with momentum, per-parameter gains and early exaggeration.
  O(N²) memory and time per iteration, fine for a bank (N ≤ a few thousand). Deterministic for
  a seed (the default PCA initialisation does not even use it).
* :func:`pca2` — the first two principal components (a quick, linear alternative).
* :func:`bank_map` — the bank's character rows (specials left out) as coloured points, one
  colour per script, the marker by subtype (● letter, ○ diacritic, ■ digit, ▲ punctuation), a
  legend with script names and counts, and optionally the characters themselves beside the
  points (``labels=True``; needs system fonts, found with :mod:`mstr.fonts`; combining
  marks are drawn on a dotted circle ◌).

Only numpy is imported at module level (Pillow on use); fonts are looked up on demand.
"""
from __future__ import annotations

import logging
import math
import unicodedata
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mstr.scripts import COMMON_SCRIPT, UNKNOWN_SCRIPT

__all__ = ["tsne", "pca2", "bank_map", "SCRIPT_COLOURS", "METHODS"]

log = logging.getLogger(__name__)

METHODS = ("tsne", "pca")

#: one colour per script, chosen to stay apart from each other on white
SCRIPT_COLOURS: dict[str, tuple[int, int, int]] = {
    "Latn": (31, 119, 180), "Deva": (214, 39, 40), "Beng": (44, 160, 44), "Taml": (148, 103, 189),
    "Telu": (255, 127, 14), "Mlym": (23, 190, 207), "Knda": (140, 86, 75), "Gujr": (227, 119, 194),
    "Guru": (188, 189, 34), "Orya": (0, 90, 60), "Arab": (70, 40, 140), COMMON_SCRIPT: (120, 120, 120),
}
_FALLBACK_COLOURS = [(230, 85, 13), (49, 130, 189), (116, 196, 118), (158, 154, 200), (253, 141, 60)]
_SUBTYPE_MARKERS = {"letter": "circle", "diacritic": "ring", "digit": "square", "punctuation": "triangle"}


# --------------------------------------------------------------------------------------------
# t-SNE


def _pca(x: np.ndarray, k: int) -> np.ndarray:
    """Projection of the centred ``x`` [N, F] on its first ``k`` principal axes, signs fixed
    (the largest loading of each axis is positive) so the result is reproducible."""
    xc = x - x.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    vt = vt[:k]
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    signs[signs == 0] = 1.0
    out = xc @ (vt * signs[:, None]).T
    if out.shape[1] < k:  # fewer features or points than components
        out = np.concatenate([out, np.zeros((len(x), k - out.shape[1]))], axis=1)
    return out


def pca2(x: np.ndarray) -> np.ndarray:
    """``x`` [N, F] → its first two principal components [N, 2] (float64)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"pca2 needs an [N, F] array, got shape {x.shape}")
    return _pca(x, 2) if len(x) else np.zeros((0, 2))


def _input_affinities(d2: np.ndarray, perplexity: float, tol: float = 1e-5,
                      max_steps: int = 200) -> np.ndarray:
    """Symmetric joint probabilities ``P`` [N, N] from squared distances ``d2`` [N, N].

    Row ``i``'s conditional ``p(j|i) ∝ exp(-β_i d2_ij)`` gets the β_i whose entropy is
    ``log(perplexity)`` (nats), found by bisection for all rows at once.
    """
    n = d2.shape[0]
    diag = np.arange(n)
    d = d2.copy()
    d[diag, diag] = np.inf
    d -= d.min(axis=1, keepdims=True)  # shift rows: same p, no underflow
    d[diag, diag] = 0.0
    target = math.log(perplexity)
    beta = np.ones(n)
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    p = np.zeros_like(d)
    for _ in range(max_steps):
        np.multiply(d, -beta[:, None], out=p)
        np.exp(p, out=p)
        p[diag, diag] = 0.0
        s = p.sum(axis=1)
        entropy = np.log(s) + beta * np.einsum("ij,ij->i", d, p) / s
        diff = entropy - target
        if bool((np.abs(diff) < tol).all()):
            break
        too_flat = diff > 0  # entropy too high: narrow the kernel (raise β)
        lo = np.where(too_flat, beta, lo)
        hi = np.where(too_flat, hi, beta)
        beta = np.where(too_flat, np.where(np.isinf(hi), beta * 2.0, (beta + hi) / 2.0),
                        (beta + lo) / 2.0)
    p /= p.sum(axis=1, keepdims=True)
    joint = (p + p.T) / (2.0 * n)
    return np.maximum(joint, 1e-12)


_BLOCK = 128  # rows per block of the O(N²) gradient: keeps the work in cache


def _student_block(y: np.ndarray, ysq: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``1 / (1 + |y_i - y_j|²)`` for rows ``start:stop`` [b, N], zero where ``i == j``."""
    num = y[start:stop] @ y.T
    num *= -2.0
    num += ysq[start:stop, None]
    num += ysq[None, :]
    np.maximum(num, 0.0, out=num)
    num += 1.0
    np.reciprocal(num, out=num)
    rows = np.arange(start, stop)
    num[rows - start, rows] = 0.0
    return num


def _gradient(y: np.ndarray, P: np.ndarray, exaggeration: float) -> np.ndarray:
    """The t-SNE gradient ``4 Σ_j (e·p_ij − q_ij) (1 + |y_i − y_j|²)⁻¹ (y_i − y_j)`` [N, C]."""
    n = len(y)
    ysq = (y * y).sum(axis=1)
    total = 0.0
    for i in range(0, n, _BLOCK):
        total += float(_student_block(y, ysq, i, min(i + _BLOCK, n)).sum())
    inv = 1.0 / total
    grad = np.empty_like(y)
    for i in range(0, n, _BLOCK):
        stop = min(i + _BLOCK, n)
        num = _student_block(y, ysq, i, stop)
        q = num * inv
        np.maximum(q, 1e-12, out=q)
        pq = P[i:stop] * exaggeration if exaggeration != 1.0 else P[i:stop].copy()
        pq -= q
        pq *= num
        grad[i:stop] = pq.sum(axis=1, keepdims=True) * y[i:stop] - pq @ y
    grad *= 4.0
    return grad


def tsne(x: np.ndarray, *, n_components: int = 2, perplexity: float = 30.0, n_iter: int = 1000,
         seed: int = 0, early_exaggeration: float = 12.0, exaggeration_iters: int = 250,
         learning_rate: float | None = None, init: str = "pca") -> np.ndarray:
    """Exact t-SNE of ``x`` [N, F] → ``Y`` [N, n_components] (float64 numpy).

    ``perplexity`` is clipped to ``(N - 1) / 3`` for small N. ``learning_rate`` defaults to
    ``max(N / early_exaggeration / 4, 50)``; ``init`` is ``"pca"`` (scaled to std 1e-4) or
    ``"random"`` (normal, std 1e-4, from ``seed``). Momentum 0.5 during the
    ``exaggeration_iters`` first iterations (P multiplied by ``early_exaggeration``), then 0.8.
    Same input and arguments → the same output.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"tsne needs an [N, F] array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("tsne input holds NaN or inf")
    if init not in ("pca", "random"):
        raise ValueError(f"init must be 'pca' or 'random', got {init!r}")
    if n_components < 1:
        raise ValueError("n_components must be at least 1")
    if perplexity <= 0:
        raise ValueError("perplexity must be positive")
    n = len(x)
    if n <= 2:
        return _pca(x, n_components) if n else np.zeros((0, n_components))
    perplexity = float(min(perplexity, max((n - 1) / 3.0, 1.0)))
    lr = float(learning_rate) if learning_rate is not None else max(n / early_exaggeration / 4.0, 50.0)

    sq = (x * x).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    P = _input_affinities(d2, perplexity)
    del d2

    y = None
    if init == "pca":
        y0 = _pca(x, n_components)
        std = float(y0[:, 0].std())
        if std > 0:
            y = y0 / std * 1e-4
    if y is None:
        y = np.random.default_rng(int(seed)).normal(0.0, 1e-4, size=(n, n_components))
    update = np.zeros_like(y)
    gains = np.ones_like(y)
    for it in range(int(n_iter)):
        early = it < exaggeration_iters
        grad = _gradient(y, P, early_exaggeration if early else 1.0)
        same = (grad > 0) == (update > 0)
        gains = np.where(same, gains * 0.8, gains + 0.2)
        np.maximum(gains, 0.01, out=gains)
        update = (0.5 if early else 0.8) * update - lr * gains * grad
        y = y + update
        y -= y.mean(axis=0, keepdims=True)
    return y


# --------------------------------------------------------------------------------------------
# drawing


def _ui_font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def _script_colours(scripts: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    spare = iter(_FALLBACK_COLOURS * 4)
    for s in scripts:
        out[s] = SCRIPT_COLOURS.get(s) or next(spare, (0, 0, 0))
    return out


def _marker(draw: Any, kind: str, x: float, y: float, r: float, colour: tuple[int, int, int]) -> None:
    box = (x - r, y - r, x + r, y + r)
    if kind == "ring":
        draw.ellipse(box, outline=colour, width=max(1, int(round(r / 2.5))))
    elif kind == "square":
        draw.rectangle((x - r * 0.85, y - r * 0.85, x + r * 0.85, y + r * 0.85), fill=colour)
    elif kind == "triangle":
        draw.polygon([(x, y - r * 1.1), (x - r, y + r * 0.8), (x + r, y + r * 0.8)], fill=colour)
    else:
        draw.ellipse(box, fill=colour)


def _is_mark(ch: str) -> bool:
    return len(ch) == 1 and unicodedata.category(ch) in ("Mn", "Mc", "Me")


def _label_fonts(entries: Sequence[Any], size: int,
                 font_dirs: Sequence[str | Path] | None) -> dict[int, tuple[Any, str]]:
    """Row → (PIL font, text to draw) for every entry a system font covers; {} without fonts."""
    from PIL import ImageFont

    try:
        from mstr.fonts import discover_fonts

        fonts = discover_fonts(font_dirs)
    except Exception as exc:  # no fontTools, unreadable folders …: labels are optional
        log.warning("bank map: no character labels (fonts unavailable: %s)", exc)
        return {}
    if not fonts:
        log.warning("bank map: no character labels (no font found)")
        return {}
    by_script: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        by_script.setdefault(e.script, []).append(i)
    loaded: dict[tuple[str, int], Any] = {}
    out: dict[int, tuple[Any, str]] = {}
    for script, rows in by_script.items():
        cps = [ord(entries[i].token) for i in rows]

        def rank(f: Any, cps: list[int] = cps) -> tuple:
            cover = sum(cp in f.codepoints for cp in cps)
            return (-cover, "Noto" not in f.path, "Regular" not in f.style and "Regular" not in f.path,
                    f.path, f.index)

        ranked = [f for f in sorted(fonts, key=rank)[:6] if any(cp in f.codepoints for cp in cps)]
        for i in rows:
            ch = entries[i].token
            for f in ranked:
                if ord(ch) not in f.codepoints:
                    continue
                key = (f.path, f.index)
                if key not in loaded:
                    try:
                        loaded[key] = ImageFont.truetype(f.path, size, index=f.index)
                    except OSError:
                        loaded[key] = None
                if loaded[key] is None:
                    continue
                text = ("\u25cc" + ch) if _is_mark(ch) and 0x25CC in f.codepoints else ch
                out[i] = (loaded[key], text)
                break
    return out


def bank_map(bank: Any, out_png: str | Path, *, method: str = "tsne", seed: int = 0,
             perplexity: float = 30.0, n_iter: int = 1000, labels: bool = False,
             size: tuple[int, int] = (1400, 1000), title: str | None = None,
             font_dirs: Sequence[str | Path] | None = None) -> Path:
    """Draw a 2-D map of ``bank``'s character rows (specials left out) to ``out_png``.

    ``method`` is ``"tsne"`` (:func:`tsne` with ``seed``, ``perplexity``, ``n_iter``) or
    ``"pca"``; ``size`` the image (width, height) in pixels; ``labels`` draws each character
    beside its point when a system font covers it (``font_dirs`` as for
    :func:`mstr.fonts.discover_fonts`). Returns the path written.
    """
    from PIL import Image, ImageDraw

    from mstr.scripts import SCRIPT_NAMES

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    width, height = int(size[0]), int(size[1])
    if width < 400 or height < 300:
        raise ValueError(f"the image must be at least 400x300 pixels, got {width}x{height}")
    rows = [i for i, e in enumerate(bank.entries) if e.subtype != "special"]
    if not rows:
        raise ValueError("the bank has no character rows to draw")
    entries = [bank.entries[i] for i in rows]
    x = bank.vectors[rows].detach().cpu().double().numpy()
    if method == "tsne":
        xy = tsne(x, perplexity=perplexity, n_iter=n_iter, seed=seed)
    else:
        xy = pca2(x)

    scripts = [s for s in bank.scripts() if s != UNKNOWN_SCRIPT]
    scripts = [s for s in scripts if s != COMMON_SCRIPT] + ([COMMON_SCRIPT] if COMMON_SCRIPT in scripts else [])
    colours = _script_colours(scripts)
    counts = {s: sum(e.script == s for e in entries) for s in scripts}

    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    ui, ui_small = _ui_font(18), _ui_font(14)
    legend_w = min(300, width // 4)
    top, margin = 44, 28
    plot = (margin, top + margin // 2, width - legend_w - margin, height - margin)
    draw.text((margin, 12), title or f"bank map ({method}, {len(rows)} entries, dim {bank.dim}, "
              f"fingerprint {bank.fingerprint()[:12]})", fill=(0, 0, 0), font=ui)
    draw.rectangle(plot, outline=(210, 210, 210))

    # same scale on both axes: distances in the picture are comparable in every direction
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-12))
    pad = 14
    pw, ph = plot[2] - plot[0] - 2 * pad, plot[3] - plot[1] - 2 * pad
    scale = min(pw, ph) / span
    cx, cy = (lo + hi) / 2.0
    mx, my = (plot[0] + plot[2]) / 2.0, (plot[1] + plot[3]) / 2.0
    px = mx + (xy[:, 0] - cx) * scale
    py = my - (xy[:, 1] - cy) * scale
    r = 4.5 if len(rows) < 600 else 3.5

    for j, e in enumerate(entries):
        _marker(draw, _SUBTYPE_MARKERS.get(e.subtype, "circle"), float(px[j]), float(py[j]), r,
                colours[e.script])
    if labels:
        fonts = _label_fonts(entries, 15, font_dirs)
        for j, (font, text) in fonts.items():
            c = tuple(int(v * 0.6) for v in colours[entries[j].script])
            draw.text((float(px[j]) + r + 2, float(py[j]) - 10), text, fill=c, font=font)

    # legend: scripts (colour, name, count), then the subtype markers
    lx, ly = width - legend_w + 4, top + margin // 2
    draw.text((lx, ly), "script (entries)", fill=(0, 0, 0), font=ui)
    ly += 28
    for s in scripts:
        _marker(draw, "circle", lx + 8, ly + 9, 6, colours[s])
        draw.text((lx + 22, ly), f"{SCRIPT_NAMES.get(s, s)} {s} ({counts[s]})", fill=(0, 0, 0), font=ui_small)
        ly += 22
    ly += 14
    draw.text((lx, ly), "subtype", fill=(0, 0, 0), font=ui)
    ly += 28
    present = {e.subtype for e in entries}
    for sub, kind in _SUBTYPE_MARKERS.items():
        if sub not in present:
            continue
        n = sum(e.subtype == sub for e in entries)
        _marker(draw, kind, lx + 8, ly + 9, 6, (60, 60, 60))
        draw.text((lx + 22, ly), f"{sub} ({n})", fill=(0, 0, 0), font=ui_small)
        ly += 22

    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out, format="PNG")
    return out

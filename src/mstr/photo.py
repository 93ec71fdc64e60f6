"""Reading whole photos: detect text lines, rectify each, split it into words, read the words,
and return them in reading order.

::

    reader = mstr.load()
    result = reader.read_photo(Image.open("shop.jpg"))       # or mstr.photo.read_photo(reader, image)
    for w in result.words:                                   # reading order
        w.text, w.confidence, w.script, w.polygon, w.line

The steps (all numpy and Pillow; the detector is :mod:`mstr.detect`, PP-OCRv6 on onnxruntime):

1. **Detect** text lines: 4-corner polygons (rotated rectangles) from the DB detector.
2. **Rectify** each line (:func:`rectify`): the polygon is mapped onto an upright ``H × W``
   rectangle by a perspective (quad) transform, so rotated and slanted lines become straight
   crops. A polygon much taller than wide is a vertical line: both 90° turns are read and the
   more confident one is kept.
3. **Split** the line into words (:func:`split_words`): the line is binarised (Otsu's threshold;
   the text is the class the line's border rows are not), and word gaps are runs of ink-free
   columns (a column with ink under 6 % of the ink band's height counts as free: specks of
   texture are not letters). How wide a word gap is follows from the line itself
   (:func:`_gap_threshold`): the gap width that stands most apart from the narrower gaps
   between letters, at least ``0.75 × gap`` × the ink band's height and at most ``2.5 × gap``
   × it (default ``gap`` 0.2). Scripts without spaces between words come out as one word per
   line; so may a line with no clear word spaces.
4. **Read** all words of the photo in one batch with the recognizer; each word's polygon is
   mapped back from the rectified line to the photo and tightened to its ink rows.
5. **Order**: lines whose vertical extents overlap by half form a row, rows run top to bottom;
   inside a row, lines and words follow the script's direction — right to left when most of
   the row's letters are Arabic script (Urdu), left to right otherwise.

Imports no training, font or web code.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
from PIL import Image

__all__ = ["PhotoWord", "PhotoReading", "PhotoReader", "read_photo", "rectify", "split_words", "ink_mask",
           "shared_detector", "RTL_SCRIPTS", "looks_like_word"]

#: scripts written right to left
RTL_SCRIPTS = frozenset({"Arab"})
#: a polygon at least this many times taller than wide is a vertical line
VERTICAL_RATIO = 1.5
#: word gap, in units of the line's ink height
DEFAULT_GAP = 0.2

Quad = np.ndarray  # 4 × 2 float: top-left, top-right, bottom-right, bottom-left (x, y)


@dataclass
class PhotoWord:
    """One word of a photo. ``polygon``: 4 ``(x, y)`` corners in photo pixels in the word's own
    frame (top-left, top-right, bottom-right, bottom-left of the text as it reads); ``line``: the
    index of its line in reading order; ``text``/``confidence``/``script`` as in
    :class:`~mstr.reading.prediction.Prediction`; ``det_score``: the detector's score of its line."""

    polygon: list[tuple[float, float]]
    text: str
    confidence: float
    script: str | None
    line: int
    det_score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["polygon"] = [[round(x, 1), round(y, 1)] for x, y in self.polygon]
        return d


@dataclass
class PhotoReading:
    """The words of a photo of ``width × height`` pixels, in reading order."""

    width: int
    height: int
    words: list[PhotoWord] = field(default_factory=list)

    def lines(self) -> list[list[PhotoWord]]:
        """The words grouped by line, in reading order."""
        out: dict[int, list[PhotoWord]] = {}
        for w in self.words:
            out.setdefault(w.line, []).append(w)
        return [out[k] for k in sorted(out)]

    def text(self) -> str:
        """The photo's text: one line per text line, words separated by spaces."""
        return "\n".join(" ".join(w.text for w in line) for line in self.lines())

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "words": [w.to_dict() for w in self.words]}


def looks_like_word(width: int, height: int) -> bool:
    """Whether an image of this size is a word crop rather than a photo (the "auto" modes): its
    shorter side under 320 px, or at least 3 × as wide as tall. A photo is much larger than a
    word: 99.5 % of the IIIT5K training crops count as words, a 640 × 480 photo does not."""
    return min(width, height) < 320 or width >= 3 * height


_DETECTOR: list[Any] = []
_DETECTOR_LOCK = threading.Lock()


def shared_detector() -> Any:
    """The default text detector, loaded once per process (thread-safe; onnxruntime sessions may
    run concurrently)."""
    with _DETECTOR_LOCK:
        if not _DETECTOR:
            import torch

            from mstr.detect import load_detector

            _DETECTOR.append(load_detector(threads=max(1, torch.get_num_threads())))
        return _DETECTOR[0]


def _side(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.hypot(*(b - a)))


def rectify(image: Image.Image, quad: Quad, max_height: int = 128) -> Image.Image:
    """The quadrilateral ``quad`` (4 × 2: top-left, top-right, bottom-right, bottom-left) of
    ``image`` mapped onto an upright ``H × W`` rectangle (``W``, ``H``: the longer of its opposite
    sides, scaled down so that ``H ≤ max_height``)."""
    tl, tr, br, bl = quad
    w, h = max(_side(tl, tr), _side(bl, br)), max(_side(tl, bl), _side(tr, br))
    scale = min(1.0, max_height / max(h, 1.0))
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    data = tuple(float(v) for p in (tl, bl, br, tr) for v in p)
    return image.transform(size, Image.QUAD, data, resample=Image.BILINEAR)


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """``H, W`` uint8 gray line → ``H, W`` bool text pixels: Otsu's threshold, the text being the
    class the top and bottom rows belong to least (the detector's box leaves a margin)."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    cum, cum_mean = np.cumsum(hist), np.cumsum(hist * np.arange(256))
    w0, w1 = cum, total - cum
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (cum_mean[-1] * w0 - cum_mean * total) ** 2 / (w0 * w1)
    t = int(np.nanargmax(np.where(np.isfinite(between), between, np.nan))) if np.isfinite(between).any() else 127
    dark = gray <= t
    border = np.concatenate([dark[0], dark[-1], dark[:, 0], dark[:, -1]])
    return ~dark if border.mean() > 0.5 else dark


def split_words(gray: np.ndarray, gap: float = DEFAULT_GAP) -> list[tuple[int, int, int, int]]:
    """Word boxes ``(x0, y0, x1, y1)`` (end exclusive) of a rectified ``H, W`` uint8 gray line,
    left to right: runs of ink-free columns at least ``gap`` × the ink band's height wide
    separate words. A line without ink gives one box, the whole line."""
    h, w = gray.shape
    ink = ink_mask(gray)
    rows = ink.sum(1)
    band = np.flatnonzero(rows >= max(1, 0.05 * rows.max())) if rows.max() > 0 else np.array([], int)
    if band.size == 0:
        return [(0, 0, w, h)]
    y0, y1 = int(band[0]), int(band[-1]) + 1
    cols = ink[y0:y1].sum(0)
    on = cols > max(1.0, 0.06 * (y1 - y0))  # a speck of texture in a gap is not a letter
    xs = np.flatnonzero(on)
    if xs.size == 0:
        return [(0, 0, w, h)]
    spans = _spans(xs, _gap_threshold(np.diff(xs) - 1, y1 - y0, gap))
    boxes = []
    for a, b in spans:
        if b - a < 0.15 * (y1 - y0) and len(spans) > 1 and cols[a:b].sum() < 0.1 * (y1 - y0) ** 2:
            continue  # a speck, not a word
        r = np.flatnonzero(ink[:, a:b].sum(1) > 0)
        boxes.append((a, int(r[0]) if r.size else y0, b, int(r[-1]) + 1 if r.size else y1))
    return boxes or [(0, 0, w, h)]


def _gap_threshold(gaps: np.ndarray, band: int, gap: float) -> float:
    """The narrowest ink-free run that separates words, from a line's ``gaps`` between inked
    columns (0 for adjacent ones) and its ink ``band`` height, at most 2.5 × ``gap`` × band. Word
    spaces stand apart from the gaps between letters: among the distinct gap widths of at least
    0.75 × ``gap`` × band, the one most apart from the next narrower: at least 1.6 × as wide (2 × under
    ``gap`` × band), and the largest ratio × √(width / band) — a wide gap after a narrower
    one inside a word (Tamil's are wide) is outdone by the space after it; with none such,
    2.5 × ``gap`` × band."""
    lo, mid, hi = max(2.0, 0.75 * gap * band), gap * band, max(3.0, 2.5 * gap * band)
    widths = np.unique(gaps[gaps > 0])
    best, best_ratio = hi, 0.0
    for prev, cur in zip(np.concatenate(([1], widths[:-1])), widths):
        ratio = cur / prev
        score = ratio * np.sqrt(cur / band)
        if cur >= lo and ratio >= (1.6 if cur >= mid else 2.0) and score > best_ratio:
            best, best_ratio = float(cur), score
    return min(best, hi)


def _spans(xs: np.ndarray, min_gap: float) -> list[tuple[int, int]]:
    """Runs of the sorted inked columns ``xs``, split where at least ``min_gap`` columns are empty."""
    spans, start, last = [], int(xs[0]), int(xs[0])
    for x in xs[1:]:
        if x - last - 1 >= min_gap:
            spans.append((start, last + 1))
            start = int(x)
        last = int(x)
    spans.append((start, last + 1))
    return spans


def _point(quad: Quad, u: float, v: float) -> tuple[float, float]:
    """The photo point at fraction ``u`` along and ``v`` down a rectified line (bilinear)."""
    tl, tr, br, bl = quad
    p = (1 - v) * ((1 - u) * tl + u * tr) + v * ((1 - u) * bl + u * br)
    return float(p[0]), float(p[1])


@dataclass
class _Candidate:
    """One reading of a detected line: the quad as rectified, its words' crops and polygons."""

    det: int
    quad: Quad
    crops: list[Image.Image]
    polygons: list[list[tuple[float, float]]]
    readings: list[Any] = field(default_factory=list)

    def score(self) -> float:
        return float(np.mean([r.confidence for r in self.readings])) if self.readings else 0.0


def _orientations(quad: Quad) -> list[Quad]:
    """The quad as read: itself, or for a vertical line both 90° turns (top to bottom, bottom to top)."""
    tl, tr, br, bl = quad
    if max(_side(tl, bl), _side(tr, br)) > VERTICAL_RATIO * max(_side(tl, tr), _side(bl, br)):
        return [np.array([tr, br, bl, tl]), np.array([bl, tl, tr, br])]
    return [quad]


def _candidate(image: Image.Image, det: int, quad: Quad, gap: float) -> _Candidate:
    line = rectify(image, quad)
    gray = np.asarray(line.convert("L"))
    h, w = gray.shape
    crops, polys = [], []
    for x0, y0, x1, y1 in split_words(gray, gap):
        pad = int(round(0.12 * max(1, y1 - y0)))
        a, b = max(0, x0 - pad), min(w, x1 + pad)
        crops.append(line.crop((a, max(0, y0 - pad), b, min(h, y1 + pad))))
        u0, u1, v0, v1 = x0 / w, x1 / w, y0 / h, y1 / h
        polys.append([_point(quad, u0, v0), _point(quad, u1, v0), _point(quad, u1, v1), _point(quad, u0, v1)])
    return _Candidate(det, quad, crops, polys)


def _rtl(readings: Sequence[Any]) -> bool:
    """Whether most letters of these readings are in a right-to-left script."""
    from mstr.scripts import script_of

    counts: dict[bool, int] = {True: 0, False: 0}
    for r in readings:
        for ch in r.text:
            s = script_of(ch)
            if s not in ("Zyyy", "Zzzz"):
                counts[s in RTL_SCRIPTS] += 1
    return counts[True] > counts[False]


def _rows(cands: list[_Candidate]) -> list[list[_Candidate]]:
    """Lines grouped into rows (vertical extents overlapping by half the smaller), top to bottom."""
    spans = [(float(c.quad[:, 1].min()), float(c.quad[:, 1].max())) for c in cands]
    order = sorted(range(len(cands)), key=lambda i: (spans[i][0] + spans[i][1]) / 2)
    rows: list[list[int]] = []
    for i in order:
        top, bot = spans[i]
        for row in rows:
            rt, rb = min(spans[j][0] for j in row), max(spans[j][1] for j in row)
            if min(bot, rb) - max(top, rt) >= 0.5 * min(bot - top, rb - rt):
                row.append(i)
                break
        else:
            rows.append([i])
    return [[cands[i] for i in row] for row in rows]


def read_photo(reader: Any, image: Image.Image, *, detector: Any = None, gap: float = DEFAULT_GAP,
               min_confidence: float = 0.0, batch_size: int = 64,
               langs: Sequence[str] | str | None = None) -> PhotoReading:
    """Every word of a whole photo, in reading order (see the module text for the steps).

    ``reader``: anything with ``read(images, batch_size=…)`` returning predictions (a loaded
    :mod:`mstr` reader); ``image``: a PIL image of any mode; ``detector``: a
    :class:`~mstr.detect.TextDetector` (default: :func:`shared_detector`); ``gap``: the word gap
    (× ink height); words read with confidence below ``min_confidence``, and empty readings,
    are left out; ``langs``: a language hint for every word (``reader.read(…, langs=)``)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    det = detector if detector is not None else shared_detector()
    found = det.detect(rgb)
    options: list[list[_Candidate]] = [[_candidate(rgb, i, q, gap) for q in _orientations(np.array(d.polygon))]
                                       for i, d in enumerate(found)]
    flat = [c for opts in options for c in opts]
    crops = [im for c in flat for im in c.crops]
    hint = {"langs": langs} if langs else {}
    preds = reader.read(crops, batch_size=batch_size, **hint) if crops else []
    at = 0
    for c in flat:
        c.readings, at = list(preds[at:at + len(c.crops)]), at + len(c.crops)
    chosen = [max(opts, key=lambda c: c.score()) for opts in options]
    words: list[PhotoWord] = []
    line_no = 0
    for row in _rows(chosen):
        rtl = _rtl([r for c in row for r in c.readings])
        row.sort(key=lambda c: float(c.quad[:, 0].mean()), reverse=rtl)
        for c in row:
            items = [(p, r) for p, r in zip(c.polygons, c.readings)
                     if r.text and not getattr(r, "error", None) and r.confidence >= min_confidence]
            if not items:
                continue
            # the crops are left to right in the rectified line; right-to-left lines read the other way
            for poly, r in (items[::-1] if rtl else items):
                words.append(PhotoWord(polygon=poly, text=r.text, confidence=float(r.confidence),
                                       script=r.script, line=line_no, det_score=float(found[c.det].score)))
            line_no += 1
    return PhotoReading(width=rgb.width, height=rgb.height, words=words)


class PhotoReader:
    """Mixin for the readers :func:`mstr.load` returns: ``read_photo(image)`` on their ``read``."""

    def read_photo(self, image: Image.Image, **kwargs: Any) -> PhotoReading:
        """Every word of a whole photo in reading order: :func:`mstr.photo.read_photo`."""
        return read_photo(self, image, **kwargs)

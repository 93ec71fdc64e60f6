"""Text detection: where the lines of text are in a photo (for reading whole photos later).

::

    from mstr.detect import load_detector
    det = load_detector()                    # PP-OCRv6 small detector, onnxruntime, CPU
    for d in det.detect(Image.open("sign.jpg")):
        d.polygon                           # 4 (x, y) corners: top-left, top-right, bottom-right, bottom-left
        d.score                             # mean text probability inside the box, in [0, 1]

The model is the PP-OCRv6 small text detector shipped in the ``rapidocr==3.10.0`` wheel
(``rapidocr/models/PP-OCRv6_det_small.onnx``, Apache-2.0; the ``peers`` extra, :mod:`mstr.peers`),
a DB (differentiable binarisation) network: it gives a per-pixel text probability map at the
input's resolution. Everything around it is ours, in numpy (:mod:`mstr.detect.db`):

1. **Input.** RGB → BGR (the model's training order), scaled so the longer side is at most
   ``max_side`` and, when ``min_side`` is set, the shorter at least ``min_side``; each side then
   rounded to a multiple of 32 (at least 32); pixels scaled to [-1, 1].
2. **Map → boxes** (:func:`mstr.detect.db.boxes_from_map`): threshold at ``thresh``, a 2×2
   dilation, 8-connected components; per component the smallest rotated rectangle; boxes whose
   shorter side is under ``min_size`` px or whose mean probability is under ``box_thresh`` are
   dropped; each kept box is grown ("unclipped") on every side by ``area × unclip_ratio /
   perimeter`` (the DB offset, which undoes the shrinking of the training targets); boxes are
   mapped back to the image and clipped to it, and returned top to bottom, left to right.

Nothing here imports training code; only numpy, Pillow and onnxruntime.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["Detection", "TextDetector", "load_detector", "DETECTOR_FILE"]

DETECTOR_FILE = "models/PP-OCRv6_det_small.onnx"


@dataclass(frozen=True)
class Detection:
    """One text region: ``polygon`` = 4 ``(x, y)`` corners in image pixels (top-left, top-right,
    bottom-right, bottom-left), ``score`` = mean text probability inside it."""

    polygon: tuple[tuple[float, float], ...]
    score: float

    def bbox(self) -> tuple[float, float, float, float]:
        """The axis-aligned ``(left, top, right, bottom)`` around the polygon."""
        xs, ys = [p[0] for p in self.polygon], [p[1] for p in self.polygon]
        return min(xs), min(ys), max(xs), max(ys)


class TextDetector:
    """A DB text detector on onnxruntime; see the module text for the steps and parameters."""

    def __init__(self, path: str | Path | None = None, *, threads: int = 1, max_side: int = 1280,
                 min_side: int | None = None, thresh: float = 0.3, box_thresh: float = 0.5,
                 unclip_ratio: float = 1.6, min_size: int = 3, max_candidates: int = 1000) -> None:
        from mstr.errors import UserError
        from mstr.peers import onnx_session, package_file

        what = "mstr.detect's text detector"
        self.path = Path(path) if path is not None else package_file("rapidocr", DETECTOR_FILE, what)
        if not self.path.is_file():
            raise UserError(f"detector model {self.path} not found")
        if max_side < 32 or (min_side is not None and min_side < 32):
            raise UserError(f"max_side and min_side must be at least 32, got {max_side} and {min_side}")
        self.session = onnx_session(self.path, threads, what)
        self.input_name = self.session.get_inputs()[0].name
        self.max_side, self.min_side = int(max_side), min_side
        self.params = {"thresh": thresh, "box_thresh": box_thresh, "unclip_ratio": unclip_ratio,
                       "min_size": min_size, "max_candidates": max_candidates}

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The ``(width, height)`` the model reads an image of this size at (multiples of 32)."""
        scale = min(1.0, self.max_side / max(width, height))
        if self.min_side is not None and min(width, height) * scale < self.min_side:
            scale = min(self.min_side / min(width, height), self.max_side / max(width, height))
        return (max(32, int(round(width * scale / 32)) * 32), max(32, int(round(height * scale / 32)) * 32))

    def probability_map(self, image: Image.Image) -> np.ndarray:
        """The model's ``h, w`` text probability map at :meth:`input_size`."""
        im = image.convert("RGB")
        w, h = self.input_size(*im.size)
        a = np.asarray(im.resize((w, h), Image.BILINEAR), dtype=np.float32)[:, :, ::-1]
        x = (a.transpose(2, 0, 1)[None] / 127.5 - 1.0).astype(np.float32)
        out = self.session.run(None, {self.input_name: x})[0]
        return np.asarray(out, dtype=np.float32).reshape(out.shape[-2], out.shape[-1])

    def detect(self, image: Image.Image) -> list[Detection]:
        """Text regions of an image (any PIL mode), in reading order (top to bottom, left to right)."""
        from mstr.detect.db import boxes_from_map

        prob = self.probability_map(image)
        found = boxes_from_map(prob, image.size, **self.params)
        return [Detection(polygon=tuple((float(x), float(y)) for x, y in box), score=float(s)) for box, s in found]

    def info(self) -> dict[str, Any]:
        return {"model": str(self.path), "max_side": self.max_side, "min_side": self.min_side, **self.params}


def load_detector(path: str | Path | None = None, **kwargs: Any) -> TextDetector:
    """The text detector (default: PP-OCRv6 small from the installed ``rapidocr`` wheel);
    ``kwargs`` as :class:`TextDetector`'s. Raises :class:`~mstr.errors.UserError` with the
    install command when the ``peers`` extra is missing."""
    return TextDetector(path, **kwargs)

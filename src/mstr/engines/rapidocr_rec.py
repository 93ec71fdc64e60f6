"""RapidOCR's PP-OCRv6 small recognizer as an :class:`~mstr.engines.Engine` (the ``peers`` extra).

Recognition only: every crop is given whole to ``PP-OCRv6_rec_small.onnx`` from the
``rapidocr==3.10.0`` wheel (Apache-2.0), run with onnxruntime; no detection, no orientation
classifier. The wheel's Python API is not used (it needs OpenCV, Shapely, pyclipper, OmegaConf);
the steps below are those the wheel's ``TextRecognizer`` takes, written here with numpy and Pillow:

* **Input.** The crop in BGR channel order (the order the model was trained on), resized
  (bilinear) to height 48 with its aspect kept, scaled to [-1, 1]; a batch is padded with zeros
  on the right to ``48 × max(320 / 48, widest aspect in the batch)`` pixels. Crops are sorted by
  aspect and read :data:`BATCH` at a time, as the wheel does, so a crop's padding depends on its
  neighbours in aspect only.
* **Decoding.** Greedy CTC over the model's ``B, T, 18710`` output (probabilities): class 0 is
  the blank, classes 1…N the characters in the order of the graph's ``character`` metadata, the
  last class a space. Repeats are merged, blanks dropped; the confidence is the mean probability
  of the kept frames (the wheel's score). The text is normalised with :func:`mstr.text.normalize`.

The model reads Latin script (Chinese, Japanese and ~50 Latin-script languages; no Indic
scripts), so it is a peer for the English tables.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from PIL import Image

from mstr.engines import Engine
from mstr.reading.prediction import Prediction
from mstr.text import normalize

__all__ = ["RapidOcrEngine", "MODEL_FILE", "BATCH", "ctc_greedy_numpy"]

MODEL_FILE = "models/PP-OCRv6_rec_small.onnx"
HEIGHT = 48
MIN_WIDTH = 320
BATCH = 6


def ctc_greedy_numpy(probs: np.ndarray, blank: int = 0) -> list[tuple[list[int], list[float]]]:
    """``B, T, C`` probabilities → per row the ``(class ids, probabilities)`` of greedy CTC."""
    best = probs.argmax(axis=2)
    top = probs.max(axis=2)
    out = []
    for ids, ps in zip(best, top):
        keep = np.ones(len(ids), dtype=bool)
        keep[1:] = ids[1:] != ids[:-1]
        keep &= ids != blank
        out.append(([int(i) for i in ids[keep]], [float(p) for p in ps[keep]]))
    return out


class RapidOcrEngine(Engine):
    """PP-OCRv6 small recognition through onnxruntime; ``threads``: intra-op threads."""

    name = "rapidocr"

    def __init__(self, *, threads: int = 1, batch: int = BATCH) -> None:
        from mstr.peers import onnx_session, package_file

        what = "the rapidocr engine"
        self.path = package_file("rapidocr", MODEL_FILE, what)
        self.session = onnx_session(self.path, threads, what)
        meta = self.session.get_modelmeta().custom_metadata_map
        table = meta.get("character")
        if not table:
            from mstr.errors import UserError

            raise UserError(f"{self.path} holds no 'character' table in its metadata; reinstall rapidocr==3.10.0")
        self.characters = ["<blank>"] + table.split("\n") + [" "]
        self.input_name = self.session.get_inputs()[0].name
        self.threads, self.batch = int(threads), max(1, int(batch))
        self.langs = ["en"]

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "model": "PP-OCRv6_rec_small (rapidocr 3.10.0)", "file": str(self.path),
                "classes": len(self.characters), "threads": self.threads, "batch": self.batch,
                "backend": "onnxruntime"}

    def prepare(self, image: Image.Image) -> np.ndarray:
        """One crop → ``3, 48, W`` float32 in [-1, 1], BGR, W = ceil(48 × aspect)."""
        im = image.convert("RGB")
        w = max(1, math.ceil(HEIGHT * im.width / max(1, im.height)))
        a = np.asarray(im.resize((w, HEIGHT), Image.BILINEAR), dtype=np.float32)[:, :, ::-1]
        return (a.transpose(2, 0, 1) / 127.5 - 1.0).astype(np.float32)

    def read(self, images: Sequence[Image.Image], langs: Sequence[str | None] | None = None) -> list[Prediction]:
        arrays = [self.prepare(im) for im in images]
        order = sorted(range(len(arrays)), key=lambda i: arrays[i].shape[2] / HEIGHT)
        results: list[Prediction | None] = [None] * len(arrays)
        for start in range(0, len(order), self.batch):
            idx = order[start:start + self.batch]
            width = max(MIN_WIDTH, max(arrays[i].shape[2] for i in idx))
            x = np.zeros((len(idx), 3, HEIGHT, width), dtype=np.float32)
            for row, i in enumerate(idx):
                x[row, :, :, :arrays[i].shape[2]] = arrays[i]
            probs = self.session.run(None, {self.input_name: x})[0]
            for i, (ids, ps) in zip(idx, ctc_greedy_numpy(probs)):
                results[i] = self._prediction(ids, ps)
        return results  # type: ignore[return-value]

    def _prediction(self, ids: list[int], probs: list[float]) -> Prediction:
        from mstr.scripts import script_of_text

        raw = "".join(self.characters[i] if i < len(self.characters) else "" for i in ids)
        text = normalize(raw)
        conf = float(np.mean(probs)) if probs and text else 0.0
        return Prediction(text=text, confidence=max(0.0, min(1.0, conf)), script=script_of_text(text),
                          chars=[(self.characters[i], p) for i, p in zip(ids, probs) if i < len(self.characters)])

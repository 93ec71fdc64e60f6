"""Baseline readers (CRNN-CTC, softmax-head Spotter) for baseline bundles (:mod:`mstr.baseline_bundle`).

Reading imports no training code: :func:`load_baseline` returns an object with
``read(images, batch_size=…) -> list[Prediction]`` — :class:`CtcRecognizer` for the CRNN, the
Spotter's :class:`~mstr.reading.recognizer.Recognizer` (without a Refiner) for the softmax Spotter.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mstr.bank import EOS_ID, PAD_ID, Bank
from mstr.baseline_bundle import load_baseline_model
from mstr.models.crnn import CRNN, ctc_greedy
from mstr.reading.prediction import Prediction
from mstr.reading.reader import Reader

__all__ = ["load_baseline", "CtcRecognizer"]


def load_baseline(folder: str | Path, *, device: str = "cpu"):
    """A reader for a baseline bundle: ``read(images, batch_size=64) -> list[Prediction]``."""
    model, bank, cfg = load_baseline_model(folder)
    name = cfg.get("name", Path(folder).name)
    if cfg["kind"] == "crnn":
        return CtcRecognizer(model, bank, config=cfg, name=name, device=device)
    from mstr.reading.recognizer import Recognizer

    return Recognizer(model, bank, None, config=cfg, name=name, device=device)  # type: ignore[arg-type]


class CtcRecognizer(Reader):
    """Reads word images with a :class:`CRNN` (greedy CTC); predictions as the Spotter's reader
    gives them, except ``topk`` (empty: CTC has no per-character alternatives of its own);
    ``read(images, batch_size=64)`` as every :class:`~mstr.reading.reader.Reader`."""

    def __init__(self, model: CRNN, bank: Bank, *, config: dict[str, Any] | None = None, name: str = "crnn",
                 device: str = "cpu") -> None:
        self.model = model.eval().to(device)
        self._init_reader(bank, config=config, name=name, device=device, image_size=model.cfg.image_size)

    @torch.inference_mode()
    def read_tensor(self, x: torch.Tensor) -> list[Prediction]:
        """``B, 3, H, W`` preprocessed batch → predictions."""
        logits = self.model(x.to(self.device))
        tokens = [e.token for e in self.bank.entries]
        out = []
        for r in ctc_greedy(logits, self.model.cfg.blank, never=(EOS_ID, PAD_ID)):
            out.append(Prediction(text=self.bank.decode(r.ids), confidence=float(r.confidence),
                                  script=self.bank.script_vote(r.ids),
                                  chars=[(tokens[i], float(p)) for i, p in zip(r.ids, r.probs)]))
        return out

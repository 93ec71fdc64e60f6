"""Training of the in-framework baselines — CRNN-CTC and the softmax-head Spotter — through the
Spotter's data pipeline and engine (same sources, sampler, preprocessing, Lightning trainer,
checkpoints and logs; see :mod:`mstr.train.trainer`).

The bank is used only for its token table: it fixes the label space (the Spotter's bank ids), so
the three models learn exactly the same labels from exactly the same samples. Both export a
baseline bundle (``<out>/bundle``, :mod:`mstr.engines.baselines`).

* ``crnn``: CTC loss over the columns (blank = one class after the bank's rows); targets are the
  label's bank ids without ``<eos>``.
* ``softmax``: cross-entropy per position over the table's rows, ``<eos>`` as the end target,
  label smoothing as the Spotter's. ``optim.ctc_weight > 0`` adds the auxiliary CTC reader on the
  stride-4 columns that the Spotter can use — here with a linear softmax head, blank = ``<pad>``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mstr.bank import PAD_ID
from mstr.baseline_bundle import build_model, load_baseline_model, resolve_bank, save_baseline_bundle
from mstr.errors import UserError
from mstr.models.crnn import CRNN
from mstr.train.ctc import ctc_loss, ctc_word_accuracy
from mstr.train.systems import WordSystem
from mstr.train.trainer import word_accuracy
from mstr.train.words import IGNORE

log = logging.getLogger(__name__)

__all__ = ["train_baseline", "CTCBaselineSystem", "SoftmaxBaselineSystem", "baseline_system", "SoftmaxCtcAux"]


class SoftmaxCtcAux(nn.Module):
    """Training-only CTC reader on the stride-4 columns (height-averaged) with a linear softmax
    over the token table, blank = ``<pad>``: the softmax counterpart of the Spotter's auxiliary
    CTC reader, so that the ablation can be trained the same way. Not saved in the bundle."""

    def __init__(self, channels: int, d_model: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(channels, d_model, 3, padding=1), nn.GELU(),
                                  nn.Conv1d(d_model, num_classes, 1))

    def forward(self, f4: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = self.conv(f4.mean(dim=2)).transpose(1, 2)                     # B, T, N
        return ctc_loss(logits.float().log_softmax(-1).transpose(0, 1), y, PAD_ID)


class CTCBaselineSystem(WordSystem):
    """The CRNN baseline: CTC loss over the columns (blank = one class after the bank's rows), word
    accuracy of greedy CTC readings."""

    def __init__(self, cfg: dict[str, Any], model: CRNN) -> None:
        super().__init__(cfg)
        self.model = model

    def step(self, x, y, train: bool):
        logits = self.model(x)
        loss = ctc_loss(logits.float().log_softmax(-1).transpose(0, 1), y, self.model.cfg.blank)
        return loss, ctc_word_accuracy(logits, y, self.model.cfg.blank), None


class SoftmaxBaselineSystem(WordSystem):
    """The softmax-head Spotter: cross-entropy per position over the token table (label smoothing as
    the Spotter's), plus ``optim.ctc_weight`` × the auxiliary :class:`SoftmaxCtcAux` reader."""

    def __init__(self, cfg: dict[str, Any], model: nn.Module) -> None:
        super().__init__(cfg)
        self.model = model
        self.ctc_weight = float(cfg["optim"].get("ctc_weight", 0.0) or 0.0)
        self.smoothing = float(cfg["optim"].get("label_smoothing", 0.0) or 0.0)
        self.aux = SoftmaxCtcAux(model.encoder.channels[0], model.cfg.d_model, model.cfg.num_classes) \
            if self.ctc_weight > 0 else None

    def step(self, x, y, train: bool):
        out = self.model(x)
        loss = F.cross_entropy(out.logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE,
                               label_smoothing=self.smoothing if train else 0.0)
        acc = word_accuracy(self.model.decodable(out.logits).argmax(-1), y)
        aux = self.aux(out.features[0], y) if (train and self.aux is not None) else None
        return loss, acc, aux


def baseline_system(cfg: dict[str, Any], model: nn.Module) -> WordSystem:
    """The system training ``model``: a :class:`~mstr.models.crnn.CRNN` or a
    :class:`~mstr.models.softmax_spotter.SoftmaxSpotter`."""
    return CTCBaselineSystem(cfg, model) if isinstance(model, CRNN) else SoftmaxBaselineSystem(cfg, model)


def train_baseline(kind: str, cfg: dict[str, Any]) -> Path:
    """Train the ``kind`` baseline (``crnn`` or ``softmax``); writes ``<out>/bundle``.

    ``cfg["bank"]``: a bank folder or a bundle holding one (use the Spotter's bank, so the labels
    are the same); ``cfg["init_bundle"]``: continue from a baseline bundle of the same kind
    (architecture, bank and weights from it).
    """
    from mstr.train.trainer import build_trainer, fit, prepare, word_loaders

    prepare(cfg)
    out = Path(cfg["out"])
    if cfg.get("init_bundle"):
        model, bank, _ = load_baseline_model(cfg["init_bundle"], kind)
        model.train()
    else:
        if not cfg.get("bank"):
            raise UserError("set 'bank=' (a bank folder, or the mSTR bundle whose bank gives the label space) "
                            "or 'init_bundle=' (a baseline bundle to continue from)")
        bank = resolve_bank(cfg["bank"])
        model = build_model(kind, cfg["model"], bank)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("%s baseline: %.2f M parameters, %d classes", kind, n_params / 1e6, model.cfg.num_classes)
    train, val = word_loaders(cfg, bank, int(model.cfg.max_len), tuple(model.cfg.image_size))
    module = baseline_system(cfg, model)
    trainer = build_trainer(cfg, out)
    fit(trainer, module, train, val, out)
    if trainer.is_global_zero:
        save_baseline_bundle(out / "bundle", model=model, bank=bank, name=cfg.get("name") or f"{kind}-baseline",
                             extra={"parameters": n_params,
                                    "training": {kind: {"steps": int(trainer.global_step), "config": cfg}}})
    return out / "bundle"

"""Training of the in-framework baselines — CRNN-CTC and the softmax-head Spotter — through the
Spotter's data pipeline and engine (same sources, sampler, preprocessing, Lightning trainer,
checkpoints and logs; see :mod:`mstr.train.stage2_task`).

The bank is used only for its token table: it fixes the label space (the Spotter's bank ids), so
the three models learn exactly the same labels from exactly the same samples. Both export a
baseline bundle (``<out>/bundle``, :mod:`mstr.baseline_bundle`).

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

from mstr.bank import EOS_ID, PAD_ID
from mstr.baseline_bundle import build_model, load_baseline_model, resolve_bank, save_baseline_bundle
from mstr.errors import UserError
from mstr.models.crnn import CRNN, ctc_greedy
from mstr.train.optim import adamw_warmup_cosine
from mstr.train.stage2_task import _exact, _fit, _loaders, _pl, _trainer
from mstr.train.words import IGNORE

log = logging.getLogger(__name__)

__all__ = ["train_baseline", "make_baseline_module", "ctc_targets", "SoftmaxCtcAux"]


def ctc_targets(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``B, L`` padded targets (bank ids, ``<eos>``, then IGNORE) → (concatenated ids, lengths)."""
    keep = y.ne(IGNORE) & y.ne(EOS_ID)
    return y[keep], keep.sum(1)


def _ctc_loss(logits: torch.Tensor, y: torch.Tensor, blank: int) -> torch.Tensor:
    logp = logits.float().log_softmax(-1).transpose(0, 1)                      # T, B, C
    targets, lengths = ctc_targets(y)
    t_len = torch.full((y.shape[0],), logp.shape[0], dtype=torch.long, device=y.device)
    return F.ctc_loss(logp, targets, t_len, lengths, blank=blank, zero_infinity=True)


def _ctc_exact(logits: torch.Tensor, y: torch.Tensor, blank: int) -> torch.Tensor:
    """Word accuracy of greedy CTC readings against the targets."""
    readings = ctc_greedy(logits.detach(), blank, never=(EOS_ID, PAD_ID))
    hits = []
    for r, row in zip(readings, y.tolist()):
        want = [i for i in row if i != IGNORE]
        want = want[: want.index(EOS_ID)] if EOS_ID in want else want
        hits.append(float(r.ids == want))
    return torch.tensor(hits).mean()


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
        return _ctc_loss(logits, y, PAD_ID)


def make_baseline_module(cfg: dict[str, Any], model: nn.Module):
    """The LightningModule training ``model`` (a :class:`~mstr.models.crnn.CRNN` or a
    :class:`~mstr.models.softmax_spotter.SoftmaxSpotter`)."""
    pl = _pl()
    o = cfg["optim"]
    is_crnn = isinstance(model, CRNN)
    ctc_weight = float(o.get("ctc_weight", 0.0) or 0.0)
    smoothing = float(o.get("label_smoothing", 0.0) or 0.0)

    class BaselineModule(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.aux = None
            if not is_crnn and ctc_weight > 0:
                self.aux = SoftmaxCtcAux(model.encoder.channels[0], model.cfg.d_model, model.cfg.num_classes)

        def _step(self, x, y, train: bool):
            if is_crnn:
                logits = self.model(x)
                loss = _ctc_loss(logits, y, self.model.cfg.blank)
                return loss, _ctc_exact(logits, y, self.model.cfg.blank), None
            out = self.model(x)
            loss = F.cross_entropy(out.logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE,
                                   label_smoothing=smoothing if train else 0.0)
            acc = _exact(self.model.decodable(out.logits).argmax(-1), y).mean()
            aux = self.aux(out.features[0], y) if (train and self.aux is not None) else None
            return loss, acc, aux

        def training_step(self, batch, _):
            x, y, _langs = batch
            loss, acc, aux = self._step(x, y, True)
            self.log("train/loss", loss.detach(), prog_bar=True, batch_size=len(y))
            if aux is not None:
                self.log("train/ctc", aux.detach(), batch_size=len(y))
                loss = loss + ctc_weight * aux
            self.log("train/word_acc", acc, prog_bar=True, batch_size=len(y))
            return loss

        def validation_step(self, batch, _):
            x, y, _langs = batch
            loss, acc, _ = self._step(x, y, False)
            self.log("val/loss", loss, batch_size=len(y), sync_dist=True)
            self.log("val/word_acc", acc, prog_bar=True, batch_size=len(y), sync_dist=True)

        def configure_optimizers(self):
            return adamw_warmup_cosine(self.parameters(), o)

    return BaselineModule()


def train_baseline(kind: str, cfg: dict[str, Any]) -> Path:
    """Train the ``kind`` baseline (``crnn`` or ``softmax``); writes ``<out>/bundle``.

    ``cfg["bank"]``: a bank folder or a bundle holding one (use the Spotter's bank, so the labels
    are the same); ``cfg["init_bundle"]``: continue from a baseline bundle of the same kind
    (architecture, bank and weights from it).
    """
    pl = _pl()
    pl.seed_everything(int(cfg["trainer"]["seed"]), workers=True)
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
    train, val = _loaders(cfg, bank, int(model.cfg.max_len), tuple(model.cfg.image_size))
    module = make_baseline_module(cfg, model)
    trainer = _trainer(cfg, out)
    _fit(trainer, module, train, val, out)
    if trainer.is_global_zero:
        save_baseline_bundle(out / "bundle", model=model, bank=bank, name=cfg.get("name") or f"{kind}-baseline",
                             extra={"parameters": n_params,
                                    "training": {kind: {"steps": int(trainer.global_step), "config": cfg}}})
    return out / "bundle"

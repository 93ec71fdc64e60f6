"""The base of every Lightning system mstr trains (in the spirit of PARSeq's ``strhub/models/base.py``):
the optimiser and schedule from the config's ``optim`` section, logging under ``train/`` and
``val/``, and — for the word readers — one training step (loss, optional auxiliary CTC term, word
accuracy) and one word-accuracy validation.

Importing this module imports PyTorch Lightning (a :class:`~mstr.errors.UserError` when missing).
"""
from __future__ import annotations

from typing import Any, Iterable

import torch

from mstr.train.optim import adamw_warmup_cosine
from mstr.train.trainer import lightning

__all__ = ["TrainingSystem", "WordSystem"]

pl = lightning()


class TrainingSystem(pl.LightningModule):
    """A LightningModule configured by a training config: AdamW with linear warm-up and cosine decay
    over :meth:`trained_parameters`, and logging helpers."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.optim_cfg = cfg["optim"]

    def trained_parameters(self) -> Iterable:
        """What the optimiser updates: parameters or parameter groups (default: every parameter)."""
        return self.parameters()

    def configure_optimizers(self):
        return adamw_warmup_cosine(self.trained_parameters(), self.optim_cfg)

    def log_train(self, name: str, value: torch.Tensor, batch: int, prog_bar: bool = False) -> None:
        """Log ``train/<name>`` for a batch of ``batch`` samples."""
        self.log(f"train/{name}", value, prog_bar=prog_bar, batch_size=batch)

    def log_val(self, name: str, value: torch.Tensor, batch: int, prog_bar: bool = False) -> None:
        """Log ``val/<name>`` for a batch of ``batch`` samples, averaged over the processes."""
        self.log(f"val/{name}", value, prog_bar=prog_bar, batch_size=batch, sync_dist=True)


class WordSystem(TrainingSystem):
    """A word reader trained on ``(images, target ids, langs)`` batches: subclasses give :meth:`step`;
    ``ctc_weight`` weighs the auxiliary CTC term a step may return; ``logs_val_loss`` whether the
    validation loss is logged beside the word accuracy."""

    ctc_weight: float = 0.0
    logs_val_loss: bool = True

    def step(self, x: torch.Tensor, y: torch.Tensor, train: bool
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(loss, word accuracy, auxiliary CTC loss or None)`` of a batch."""
        raise NotImplementedError

    def training_step(self, batch, _):
        x, y, _langs = batch
        loss, acc, aux = self.step(x, y, True)
        self.log_train("loss", loss.detach(), len(y), prog_bar=True)
        if aux is not None:
            self.log_train("ctc", aux.detach(), len(y))
            loss = loss + self.ctc_weight * aux
        self.log_train("word_acc", acc, len(y), prog_bar=True)
        return loss

    def validation_step(self, batch, _):
        x, y, _langs = batch
        loss, acc, _ = self.step(x, y, False)
        if self.logs_val_loss:
            self.log_val("loss", loss, len(y))
        self.log_val("word_acc", acc, len(y), prog_bar=True)

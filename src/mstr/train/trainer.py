"""The training plumbing every stage shares, written once: the PyTorch Lightning import, CPU threads
and seeding, the ``Trainer`` built from a config's ``trainer`` / ``optim`` sections (precision,
devices and strategy, CSV (+ TensorBoard) logs, step checkpoints, learning-rate monitor, step and
time budgets, validation interval), fitting with resumption from the newest intact checkpoint,
the data loaders, and word accuracy.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Sampler, Subset

from mstr.errors import UserError

log = logging.getLogger(__name__)

__all__ = ["lightning", "prepare", "build_trainer", "fit", "train_loader", "val_loader", "word_loaders",
           "word_accuracy", "CHECKPOINTS"]

#: the folder of ``out`` holding the step checkpoints and ``last.ckpt``
CHECKPOINTS = "checkpoints"


def lightning():
    """``lightning.pytorch``, or a :class:`UserError` naming the extra that installs it."""
    try:
        import lightning.pytorch as pl
    except ImportError as exc:  # pragma: no cover
        raise UserError("training needs PyTorch Lightning: pip install 'mstr[train]'") from exc
    return pl


def prepare(cfg: dict[str, Any]) -> None:
    """Before anything is built: ``trainer.threads`` CPU threads (when set) and the seed of every RNG."""
    t = cfg["trainer"]
    if t.get("threads"):
        torch.set_num_threads(int(t["threads"]))
        # Lightning's DDP launcher resets the threads to cores / processes unless OMP_NUM_THREADS is set
        os.environ.setdefault("OMP_NUM_THREADS", str(int(t["threads"])))
    lightning().seed_everything(int(t["seed"]), workers=True)


def build_trainer(cfg: dict[str, Any], out: Path, *, tensorboard: bool = False):
    """The Lightning ``Trainer`` of a run writing to ``out``: CSV logs in ``out/logs`` (and TensorBoard
    logs in ``out/tb`` when ``tensorboard`` and the package is installed), checkpoints every
    ``trainer.ckpt_every`` steps in ``out/checkpoints``, ``optim.max_steps`` steps or
    ``trainer.max_time``, validation every ``trainer.val_every`` steps, gradients clipped to
    ``optim.grad_clip`` (0 or absent: not clipped)."""
    pl = lightning()
    t = cfg["trainer"]
    callbacks = [pl.callbacks.ModelCheckpoint(dirpath=out / CHECKPOINTS, save_last=True,
                                              every_n_train_steps=int(t["ckpt_every"])),
                 pl.callbacks.LearningRateMonitor(logging_interval="step")]
    loggers = [pl.loggers.CSVLogger(str(out), name="logs")]
    if tensorboard:
        try:
            import tensorboard as _tb  # noqa: F401
            loggers.append(pl.loggers.TensorBoardLogger(str(out), name="tb"))
        except ImportError:
            pass
    return pl.Trainer(max_steps=int(cfg["optim"]["max_steps"]), precision=t["precision"],
                      accelerator=t["accelerator"], devices=t["devices"], num_nodes=t["num_nodes"],
                      strategy=t["strategy"], logger=loggers, callbacks=callbacks,
                      log_every_n_steps=int(t["log_every"]), val_check_interval=int(t["val_every"]),
                      check_val_every_n_epoch=None, limit_val_batches=t.get("limit_val_batches", 1.0),
                      num_sanity_val_steps=0, enable_progress_bar=t.get("progress_bar", True),
                      max_time=t.get("max_time"),
                      gradient_clip_val=float(cfg["optim"].get("grad_clip", 0) or 0) or None,
                      default_root_dir=str(out))


def fit(trainer, module, train: DataLoader, val: DataLoader | None, out: Path) -> None:
    """``trainer.fit``, resumed from the newest intact checkpoint in ``out/checkpoints`` if any."""
    from mstr.train.resume import resume_checkpoint

    trainer.fit(module, train, val, ckpt_path=resume_checkpoint(out / CHECKPOINTS))


def train_loader(ds: Dataset, data_cfg: dict[str, Any], *, sampler: Sampler | None = None,
                 collate_fn: Callable | None = None) -> DataLoader:
    """The training loader of a config's ``data`` section (``batch_size``, ``workers``): shuffled
    unless a ``sampler`` draws the samples, the last incomplete batch dropped."""
    workers = int(data_cfg["workers"])
    return DataLoader(ds, batch_size=int(data_cfg["batch_size"]), shuffle=sampler is None, sampler=sampler,
                      num_workers=workers, collate_fn=collate_fn, drop_last=True, persistent_workers=workers > 0)


def val_loader(ds: Dataset, batch_size: int, collate_fn: Callable | None = None) -> DataLoader:
    """A validation loader: in order, in the main process."""
    return DataLoader(ds, batch_size=batch_size, num_workers=0, collate_fn=collate_fn)


def word_loaders(cfg: dict[str, Any], bank, max_len: int, image_size: tuple[int, int]
                 ) -> tuple[DataLoader, DataLoader | None]:
    """Training and validation loaders of word images for a config's ``data`` section (``sources``
    mixed by weight and ``lang_weights``, ``val_sources`` evenly thinned to ``val_max``), labels
    encoded against ``bank`` (:mod:`mstr.train.words`)."""
    from mstr.charsets import parse_langs
    from mstr.train.words import build_sources, collate, mixed_sampler

    d = cfg["data"]
    langs = parse_langs(d["langs"]) if d.get("langs") else bank.langs()
    parts = build_sources(d["sources"], bank, max_len=max_len, image_size=image_size, langs=langs)
    n = int(cfg["optim"]["max_steps"]) * int(d["batch_size"])
    ds, sampler = mixed_sampler(parts, n, d.get("lang_weights") or {}, int(cfg["trainer"]["seed"]))
    for ws, w in parts:
        log.info("source %-10s %-3s %7d samples, weight %.2f", ws.name, ws.lang, len(ws), w)
    train = train_loader(ds, d, sampler=sampler, collate_fn=collate)
    val = None
    if d.get("val_sources"):
        vparts = build_sources(d["val_sources"], bank, max_len=max_len, image_size=image_size, langs=langs)
        vds: Dataset = ConcatDataset([p for p, _ in vparts])
        limit = int(d.get("val_max", 2000))
        if len(vds) > limit:
            step = len(vds) / limit
            vds = Subset(vds, [int(i * step) for i in range(limit)])
        val = val_loader(vds, 128, collate)
    return train, val


def word_accuracy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The share of words read exactly: ``B, L`` predicted ids against ``B, L`` targets, positions
    after the end (target ``IGNORE``) not compared."""
    from mstr.train.words import IGNORE

    valid = target.ne(IGNORE)
    return ((pred == target) | ~valid).all(dim=1).float().mean()

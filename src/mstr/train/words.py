"""Word datasets for Stage 2: synthetic LMDBs and real manifests/LMDBs, encoded against the bank,
mixed with per-source and per-language ratios.

A source is a mapping in the training config::

    {name: synth, root: runs/data/words6, split: train, weight: 1.0}          # LMDB/<lang>/<split>_lmdb
    {name: iiit, manifest: data/real/finetune.jsonl, root: ../shared/data/real, weight: 0.5}
    {name: mine, lmdb: path/to/train_lmdb, lang: en, weight: 0.3}            # one PARSeq/DTRB LMDB
    {name: synth, packed: runs/packed/words-48x192, weight: 1.0}              # 'mstr data pack' output

Labels the bank cannot encode, or longer than the Spotter's positions, are skipped and counted
per source (one warning with examples), never silently.
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import ConcatDataset, Dataset, WeightedRandomSampler

from mstr.bank import EOS_ID, Bank
from mstr.data.packed import to_float
from mstr.errors import UserError
from mstr.preprocess import to_tensor

log = logging.getLogger(__name__)

__all__ = ["WordSamples", "build_sources", "mixed_sampler", "SeededWeightedSampler", "IGNORE"]

IGNORE = -100


class WordSamples(Dataset):
    """Encoded samples of one source and language: ``(image 3×H×W, target ids L, lang)``."""

    def __init__(self, name: str, lang: str, items: list[tuple[Any, str]], loader, bank: Bank, max_len: int,
                 image_size: tuple[int, int]) -> None:
        self.name, self.lang = name, lang
        self.loader, self.image_size, self.max_len = loader, image_size, max_len
        self.items: list[tuple[Any, list[int]]] = []
        self.skipped: Counter[str] = Counter()
        examples = []
        for ref, label in items:
            ids, missing = bank.try_encode(label, lang)
            if ids is None:
                self.skipped["not_in_bank"] += 1
                if len(examples) < 3:
                    examples.append(f"{label!r} ({''.join(missing)})")
            elif not ids:
                self.skipped["empty"] += 1
            elif len(ids) + 1 > max_len:
                self.skipped["too_long"] += 1
            else:
                self.items.append((ref, ids))
        if self.skipped:
            log.warning("%s/%s: skipped %s of %d labels; e.g. %s", name, lang, dict(self.skipped), len(items),
                        ", ".join(examples) or "-")

    def __len__(self) -> int:
        return len(self.items)

    def target(self, ids: list[int]) -> torch.Tensor:
        t = torch.full((self.max_len,), IGNORE, dtype=torch.long)
        t[: len(ids)] = torch.tensor(ids)
        t[len(ids)] = EOS_ID
        return t

    def __getitem__(self, i: int):
        from mstr.images import BadImage

        for k in range(len(self.items)):  # a bad image (0 bytes, corrupt): warn, take the next sample
            ref, ids = self.items[(i + k) % len(self.items)]
            try:
                image = self.loader(ref)
            except BadImage as exc:
                log.warning("%s/%s: skipping a sample with a bad image: %s", self.name, self.lang, exc)
                continue
            x = to_float(image) if isinstance(image, torch.Tensor) else to_tensor(image, self.image_size)
            return x, self.target(ids), self.lang
        raise UserError(f"source {self.name!r} ({self.lang}): no sample has a usable image; check its files")


def _lmdb_parts(path: Path, lang: str | None):
    from mstr.data.lmdb import LmdbDataset

    ds = LmdbDataset(path, lang=lang)
    by_lang: dict[str, list[tuple[int, str]]] = {}
    for i in range(len(ds)):
        lg = ds.lang_at(i) or lang
        if lg is None:
            raise UserError(f"{path}: sample {ds.index_at(i)} has no language; give the source a 'lang'")
        by_lang.setdefault(lg, []).append((i, ds.label_at(i)))

    def loader(i: int):
        return ds[i][0]

    return by_lang, loader


def _manifest_parts(manifest: Path, root: Path):
    from mstr.data.manifest import read_manifest
    from mstr.images import load_image

    read = read_manifest(manifest, root)
    if read.problems:
        log.warning("%s: %d line(s) skipped: %s", manifest, len(read.problems), "; ".join(map(str, read.problems[:3])))
    by_lang: dict[str, list[tuple[Path, str]]] = {}
    for rec in read.records:
        by_lang.setdefault(rec.lang, []).append((rec.image_path(root), rec.gt_text))
    return by_lang, load_image


def _packed_parts(folder: Path, image_size: tuple[int, int]):
    from mstr.data.packed import PackedImages

    packed = PackedImages(folder)
    if tuple(packed.size) != tuple(image_size):
        raise UserError(f"{folder} is packed at {packed.size[0]}x{packed.size[1]}, the model reads "
                        f"{image_size[0]}x{image_size[1]}: pack it again with "
                        f"'mstr data pack … --size {image_size[0]}x{image_size[1]}'")
    by_lang: dict[str, list[tuple[int, str]]] = {}
    for i, (label, lang) in enumerate(zip(packed.labels, packed.langs)):
        by_lang.setdefault(lang, []).append((i, label))
    return by_lang, packed.image


def build_sources(sources: Sequence[dict[str, Any]], bank: Bank, *, max_len: int, image_size: tuple[int, int],
                  langs: Sequence[str], split_override: str | None = None) -> list[tuple[WordSamples, float]]:
    """Instantiate every configured source as per-language :class:`WordSamples` with its weight."""
    out = []
    for src in sources:
        name = src.get("name", "source")
        weight = float(src.get("weight", 1.0))
        if "manifest" in src:
            by_lang, loader = _manifest_parts(Path(src["manifest"]), Path(src.get("root", ".")))
        elif "lmdb" in src:
            by_lang, loader = _lmdb_parts(Path(src["lmdb"]), src.get("lang"))
        elif "packed" in src:
            by_lang, loader = _packed_parts(Path(src["packed"]), image_size)
        elif "root" in src:
            split = split_override or src.get("split", "train")
            parts = []
            for lang in langs:
                p = Path(src["root"]) / "LMDB" / lang / f"{split}_lmdb"
                if (p / "data.mdb").exists():
                    bl, ld = _lmdb_parts(p, lang)
                    parts.append((lang, bl.get(lang, []), ld))
            if not parts:
                raise UserError(f"source {name!r}: no {split}_lmdb under {src['root']}/LMDB/<lang>/ for {list(langs)}; "
                                f"generate it with 'mstr synth words --langs {','.join(langs)} --out {src['root']}'")
            for lang, items, ld in parts:
                ws = WordSamples(name, lang, items, ld, bank, max_len, image_size)
                if len(ws):
                    out.append((ws, weight))
            continue
        else:
            raise UserError(f"source {name!r} needs one of: root (synthetic layout), manifest (+ root), lmdb, packed")
        for lang, items in by_lang.items():
            if lang not in langs:
                log.warning("source %s: %d samples of language %r not in this model's languages; skipped",
                            name, len(items), lang)
                continue
            ws = WordSamples(name, lang, items, loader, bank, max_len, image_size)
            if len(ws):
                out.append((ws, weight))
    if not out:
        raise UserError("no usable training samples in the configured sources")
    return out


def mixed_sampler(parts: list[tuple[WordSamples, float]], num_samples: int,
                  lang_weights: dict[str, float] | None = None, seed: int = 0) -> tuple[ConcatDataset, SeededWeightedSampler]:
    """A concatenation of the parts and a sampler drawing each source with its weight, each
    language within a source with its ``lang_weights`` share (default equal), uniformly inside."""
    lang_weights = lang_weights or {}
    by_source: dict[str, list[WordSamples]] = {}
    for ws, _ in parts:
        by_source.setdefault(ws.name, []).append(ws)
    weights = []
    for ws, w in parts:
        siblings = by_source[ws.name]
        total_lw = sum(float(lang_weights.get(s.lang, 1.0)) for s in siblings)
        share = w * float(lang_weights.get(ws.lang, 1.0)) / total_lw
        weights.append(torch.full((len(ws),), share / len(ws), dtype=torch.double))
    return ConcatDataset([p for p, _ in parts]), SeededWeightedSampler(torch.cat(weights), num_samples, seed)


class SeededWeightedSampler(WeightedRandomSampler):
    """A :class:`WeightedRandomSampler` (with replacement) whose draw in epoch ``e`` depends on
    ``seed + e`` alone, not on how many draws came before (Lightning calls :meth:`set_epoch` before
    each epoch, a resumed run included). Under DDP Lightning wraps it in a
    ``DistributedSamplerWrapper``: every rank makes the same draw and reads its own share of it,
    positions ``rank::world_size`` of a permutation seeded with the run's seed + ``e``."""

    def __init__(self, weights: torch.Tensor, num_samples: int, seed: int = 0) -> None:
        super().__init__(weights, num_samples, replacement=True, generator=torch.Generator())
        self.seed = int(seed)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.generator.manual_seed(self.seed + self.epoch)


def collate(batch):
    images, targets, langs = zip(*batch)
    return torch.stack(images), torch.stack(targets), list(langs)

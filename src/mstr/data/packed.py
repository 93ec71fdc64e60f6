"""Packed word images: a folder holding every sample of some LMDBs already decoded and resized to
one model input size, as one ``uint8`` array, so that a fast accelerator is not starved by image
decoding (a few microseconds per sample instead of a PNG decode and a resize).

Layout of a packed folder::

    images.npy     N, 3, H, W  uint8 RGB (memory-mapped when read)
    labels.jsonl   one {"label": NFKD label, "lang": code} per sample, in the same order
    meta.json      {"format": "mstr-packed", "version": 1, "size": [H, W], "count": N, "sources": [...]}

The images are resized exactly as :func:`mstr.preprocess.to_tensor` resizes them, so reading a
packed sample gives the tensor the LMDB sample would give (``to_float``).
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from mstr.errors import UserError

__all__ = ["pack_lmdbs", "PackedImages", "to_float", "lmdb_folders"]

FORMAT = "mstr-packed"


def lmdb_folders(paths: Sequence[str | Path], split: str, langs: Sequence[str] | None = None) -> list[Path]:
    """LMDB folders named by ``paths``: an LMDB itself, or a synthetic root whose
    ``LMDB/<lang>/<split>_lmdb`` folders are taken (only ``langs`` when given)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "data.mdb").exists():
            out.append(p)
            continue
        found = sorted(d for d in (p / "LMDB").glob(f"*/{split}_lmdb") if (d / "data.mdb").exists()
                       and (langs is None or d.parent.name in langs))
        if not found:
            raise UserError(f"{p}: neither an LMDB (no data.mdb) nor a root with LMDB/<lang>/{split}_lmdb")
        out.extend(found)
    return out


def _pack_part(task: tuple[str, list[int], tuple[int, int], str, int]) -> int:
    """Decode the samples of one LMDB with the LMDB ``indices`` (its labels were kept) into rows
    ``start…`` of the output array. A sample that cannot be decoded is a UserError naming it: a
    packed row must hold the image of its label."""
    from mstr.data.lmdb import LmdbReader, image_key
    from mstr.images import BadImage, decode_image
    from mstr.preprocess import resize_rgb

    path, indices, size, out_file, start = task
    arr = np.load(out_file, mmap_mode="r+")
    with LmdbReader(path) as reader:
        for k, index in enumerate(indices):
            where = f"{path} {image_key(index).decode()}"
            try:
                data = reader.image_bytes(index)
                if data is None:
                    raise BadImage(where, "image key is missing")
                image = decode_image(data, where)
            except BadImage as exc:
                raise UserError(f"{exc}: cannot pack it; rebuild or repair that LMDB") from None
            arr[start + k] = np.asarray(resize_rgb(image, size)).transpose(2, 0, 1)
    arr.flush()
    return len(indices)


def pack_lmdbs(folders: Sequence[Path], out: str | Path, size: tuple[int, int], *, max_per_lmdb: int | None = None,
               workers: int = 1, chunk: int = 2000, progress: bool = True) -> dict:
    """Pack the samples of ``folders`` (each LMDB's first ``max_per_lmdb``) into ``out``."""
    from mstr.data.lmdb import LmdbDataset

    out = Path(out)
    if (out / "meta.json").exists():
        raise UserError(f"{out} already holds a packed set; choose another --out or remove it")
    out.mkdir(parents=True, exist_ok=True)
    plan, labels, sources = [], [], []
    for folder in folders:
        ds = LmdbDataset(folder)
        n = len(ds) if max_per_lmdb is None else min(len(ds), max_per_lmdb)
        lang = ds.default_lang
        for i in range(n):
            lg = ds.lang_at(i) or lang
            if lg is None:
                raise UserError(f"{folder}: sample {ds.index_at(i)} has no language (no lang- key, no LMDB/<lang>/ layout)")
            labels.append({"label": ds.label_at(i), "lang": lg})
        plan.append((str(folder), [ds.index_at(i) for i in range(n)]))  # workers read these, no rescan
        sources.append({"lmdb": str(folder), "samples": n})
    total = len(labels)
    h, w = size
    tmp = out / "images.tmp.npy"
    np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(total, 3, h, w)).flush()
    tasks, start = [], 0
    for folder, indices in plan:
        for lo in range(0, len(indices), chunk):
            tasks.append((folder, indices[lo:lo + chunk], (h, w), str(tmp), start + lo))
        start += len(indices)
    from tqdm import tqdm

    bar = tqdm(total=total, desc=f"pack {out.name}", unit="img", disable=not progress)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for k in pool.map(_pack_part, tasks):
                bar.update(k)
    else:
        for t in tasks:
            bar.update(_pack_part(t))
    bar.close()
    with open(out / "labels.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in labels)
    os.replace(tmp, out / "images.npy")
    meta = {"format": FORMAT, "version": 1, "size": [h, w], "count": total, "sources": sources}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))  # written last: marks the set complete
    return meta


class PackedImages:
    """Read a packed folder: ``labels`` and ``langs`` lists, ``image(i)`` → ``3, H, W`` uint8 tensor."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        try:
            meta = json.loads((self.folder / "meta.json").read_text())
        except FileNotFoundError:
            raise UserError(f"{self.folder}: not a packed set (no meta.json; an interrupted 'mstr data pack' "
                            "leaves none): pack it again") from None
        if meta.get("format") != FORMAT:
            raise UserError(f"{self.folder}/meta.json: not an mstr packed set")
        self.size = tuple(meta["size"])
        rows = [json.loads(line) for line in (self.folder / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
        self.labels = [r["label"] for r in rows]
        self.langs = [r["lang"] for r in rows]
        self._images: np.ndarray | None = None
        if len(rows) != meta["count"]:
            raise UserError(f"{self.folder}: labels.jsonl has {len(rows)} rows, meta.json says {meta['count']}")

    def __len__(self) -> int:
        return len(self.labels)

    def __getstate__(self) -> dict:  # DataLoader workers map the array themselves
        return {**self.__dict__, "_images": None}

    def image(self, i: int) -> torch.Tensor:
        if self._images is None:
            self._images = np.load(self.folder / "images.npy", mmap_mode="r")
            if self._images.shape[0] != len(self.labels) or tuple(self._images.shape[2:]) != self.size:
                raise UserError(f"{self.folder}/images.npy has shape {self._images.shape}, "
                                f"meta.json says {len(self.labels)} × 3 × {self.size}")
        return torch.from_numpy(np.array(self._images[i]))


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``…, 3, H, W`` → float in [-1, 1], as :func:`mstr.preprocess.to_tensor` scales."""
    return images.float().div_(127.5).sub_(1.0)

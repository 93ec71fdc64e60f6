"""Stage-1 data: the character crops of ``mstr synth chars`` (``<root>/LMDB/<lang>/{train,val}_lmdb``),
each labelled with its bank row and subtype; several roots are pooled."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import ConcatDataset, Dataset

from mstr.bank import entry_key
from mstr.errors import UserError
from mstr.scripts import SUBTYPES
from mstr.preprocess import to_tensor

__all__ = ["CharCrops", "pooled_crops", "data_roots", "entry_class_map"]


def entry_class_map(entries) -> dict[tuple[str, str], int]:
    """Bank key ``(script, token)`` → row of ``entries``."""
    return {(e.script, e.token): i for i, e in enumerate(entries)}


class CharCrops(Dataset):
    """Character crops of one language LMDB → ``(image 3×S×S, class row, subtype id)``."""

    def __init__(self, path: Path, lang: str, classes: dict[tuple[str, str], int], entries, size: int) -> None:
        from mstr.charsets import load_charset
        from mstr.data.lmdb import LmdbDataset

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


def data_roots(value: Any) -> list[Path]:
    """``data.root``: one ``mstr synth chars`` folder or a list of them (their crops are pooled, e.g.
    clean and augmented renderings)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items or not all(isinstance(v, (str, Path)) and str(v) for v in items):
        raise UserError(f"data.root must be a folder or a list of folders, got {value!r}")
    return [Path(v) for v in items]

"""Deterministic manifest splits (e.g. real data into fine-tune and dev parts).

A record goes to the held-out part when ``sha1(seed:sha1(image bytes))`` falls below the requested
fraction: the split depends only on the image's bytes and the seed — not on the order of lines nor
on the ``id`` written in the manifest (for a correct manifest the id *is* the SHA-1 of the bytes,
so the split is the same) — so one image never lands on both sides, even when two lines give it
different ids. It is stable when records are added and is recorded as the two manifests it writes.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from mstr.data.manifest import read_manifest, sha1_file, write_manifest
from mstr.errors import UserError

__all__ = ["split_manifest", "in_holdout"]


def in_holdout(record_id: str, frac: float, seed: int = 0) -> bool:
    h = int(hashlib.sha1(f"{seed}:{record_id}".encode()).hexdigest()[:12], 16)
    return h < frac * (16 ** 12)


def split_manifest(manifest: str | Path, root: str | Path, out_dir: str | Path, *, frac: float = 0.2,
                   seed: int = 0, names: tuple[str, str] = ("finetune", "dev")) -> dict[str, int]:
    """Write ``out_dir/<names[0]>.jsonl`` and ``out_dir/<names[1]>.jsonl``; returns their sizes."""
    if not 0.0 < frac < 1.0:
        raise UserError(f"--frac must be between 0 and 1, got {frac}")
    read = read_manifest(manifest, root)
    if not read.records:
        raise UserError(f"{manifest}: no usable records ({read.summary()})")
    held = [in_holdout(sha1_file(r.image_path(root)), frac, seed) for r in read.records]
    keep = [r for r, h in zip(read.records, held) if not h]
    hold = [r for r, h in zip(read.records, held) if h]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(keep, out_dir / f"{names[0]}.jsonl")
    write_manifest(hold, out_dir / f"{names[1]}.jsonl")
    return {names[0]: len(keep), names[1]: len(hold), "problems": len(read.problems)}

"""Deterministic manifest splits (e.g. real data into fine-tune and dev parts).

A record goes to the held-out part when ``sha1(seed + id)`` falls below the requested fraction:
the split depends only on the image bytes' id and the seed, not on the order of lines, so it is
stable when records are added and can be recorded as the two manifests it writes.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from mstr.data.manifest import read_manifest, write_manifest
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
    keep = [r for r in read.records if not in_holdout(r.id, frac, seed)]
    hold = [r for r in read.records if in_holdout(r.id, frac, seed)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(keep, out_dir / f"{names[0]}.jsonl")
    write_manifest(hold, out_dir / f"{names[1]}.jsonl")
    return {names[0]: len(keep), names[1]: len(hold), "problems": len(read.problems)}

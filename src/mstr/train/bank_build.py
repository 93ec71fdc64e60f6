"""Build and extend the prototype bank from a trained mCLIP.

Prototypes come from the frozen text tower (the entry's prompt), optionally blended with the
image tower's centroid of the entry's training crops (``alpha`` = share of the centroid).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import torch

from mstr.bank import Bank, BankEntry, bank_entries, build_bank, entry_key
from mstr.errors import UserError

__all__ = ["text_prototypes", "image_centroids", "build_from_mclip", "extend_from_mclip"]


@torch.no_grad()
def text_prototypes(model, entries: Sequence[BankEntry], batch: int = 512) -> torch.Tensor:
    """``N, D`` text-tower embeddings of the entries' prompts."""
    model.eval()
    parts = [model.encode_entries(entries[i:i + batch]) for i in range(0, len(entries), batch)]
    return torch.cat(parts).float()


@torch.no_grad()
def image_centroids(model, entries: Sequence[BankEntry], root: str | Path, langs: Sequence[str],
                    max_per_entry: int = 64, split: str = "train") -> torch.Tensor:
    """``N, D`` mean image embedding of up to ``max_per_entry`` crops per entry (NaN rows: none)."""
    from mstr.charsets import load_charset
    from mstr.data.lmdb import LmdbDataset
    from mstr.preprocess import preprocess

    model.eval()
    index = {e.key: i for i, e in enumerate(entries)}
    sums = torch.zeros(len(entries), model.cfg.dim)
    counts = torch.zeros(len(entries))
    size = model.cfg.image_size
    for lang in langs:
        path = Path(root) / "LMDB" / lang / f"{split}_lmdb"
        if not (path / "data.mdb").exists():
            raise UserError(f"{path} not found: give --centroids the --out folder of 'mstr synth chars'")
        cs = load_charset(lang)
        ds = LmdbDataset(path, charset_langs=[lang], lang=lang)
        picks: list[tuple[int, int]] = []
        taken: Counter[int] = Counter()
        for i in range(len(ds)):
            row = index.get(entry_key(ds.label_at(i), cs))
            if row is not None and counts[row] + taken[row] < max_per_entry:
                picks.append((i, row))
                taken[row] += 1
        for start in range(0, len(picks), 256):
            chunk = picks[start:start + 256]
            x = preprocess([ds[i][0] for i, _ in chunk], (size, size))
            emb = model.encode_image(x)
            rows = torch.tensor([r for _, r in chunk])
            sums.index_add_(0, rows, emb)
            counts.index_add_(0, rows, torch.ones(len(chunk)))
        ds.close()
    cent = sums / counts.clamp(min=1)[:, None]
    cent[counts == 0] = float("nan")
    return cent


def build_from_mclip(model, meta: dict[str, Any], langs: Sequence[str], *, centroids_root: str | Path | None = None,
                     alpha: float = 0.0, max_per_entry: int = 64) -> Bank:
    entries = bank_entries(langs)
    text = text_prototypes(model, entries)
    cent = None
    if centroids_root is not None and alpha > 0:
        cent = image_centroids(model, entries, centroids_root, langs, max_per_entry)
    info = {"mclip": meta.get("source", ""), "langs": list(langs), "alpha": alpha}
    return build_bank(entries, text, image_centroids=cent, alpha=alpha if cent is not None else 0.0, meta=info)


def spread_prototypes(existing: torch.Tensor, n: int, seed: int = 0, max_cos: float = 0.3) -> torch.Tensor:
    """``n`` seeded random unit vectors (``n, D``) whose cosine to every row of ``existing`` and
    to each other is at most ``max_cos``: class prototypes for a frozen bank when no mCLIP text
    tower is at hand (in 256 dimensions a random pair has |cos| < 0.3 almost surely)."""
    g = torch.Generator().manual_seed(int(seed))
    kept = existing.float()
    out: list[torch.Tensor] = []
    for _ in range(1000):
        if len(out) == n:
            break
        cand = torch.nn.functional.normalize(torch.randn(4 * (n - len(out)) + 8, existing.shape[1], generator=g), dim=1)
        for v in cand:
            if len(out) < n and bool((kept @ v).max() <= max_cos):
                out.append(v)
                kept = torch.cat([kept, v[None]])
    if len(out) < n:
        raise ValueError(f"could not place {n} prototypes with cosine <= {max_cos}")
    return torch.stack(out) if out else torch.zeros(0, existing.shape[1])


def extend_spread(bank: Bank, langs: Sequence[str], seed: int = 0) -> Bank:
    """Append the entries ``langs`` need with :func:`spread_prototypes` (no mCLIP); existing rows
    stay bit-identical. The Spotter learns to retrieve them as it does mCLIP prototypes, but their
    neighbourhoods carry no glyph similarity (the Refiner's simulator draws substitutions from it)."""
    new = bank.new_entries_for(langs)
    return bank.extend(new, spread_prototypes(bank.vectors, len(new), seed))


def extend_from_mclip(bank: Bank, model, langs: Sequence[str]) -> Bank:
    """Append the entries ``langs`` need (text prototypes); existing rows stay bit-identical."""
    new = bank.new_entries_for(langs)
    vectors = text_prototypes(model, new) if new else torch.zeros(0, bank.dim)
    return bank.extend(new, vectors)

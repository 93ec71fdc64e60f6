"""Building and growing banks: prototypes from an mCLIP's text tower, optionally blended with its
image tower's centroid of the entry's training crops (``alpha`` = share of the centroid), or — with
no mCLIP — seeded random prototypes spread apart from every other row (``mstr bank extend
--spread-seed``). Existing rows of an extended bank stay bit-identical.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import torch

from mstr.bank.core import Bank, check_vectors
from mstr.bank.entries import BankEntry, bank_entries, entry_key
from mstr.errors import UserError

__all__ = ["build_bank", "text_prototypes", "image_centroids", "build_from_mclip", "spread_prototypes",
           "extend_spread", "extend_from_mclip"]


def build_bank(entries: Sequence[BankEntry], text_vectors: torch.Tensor, *,
               image_centroids: torch.Tensor | None = None, alpha: float = 0.0,
               meta: dict | None = None) -> Bank:
    """A bank whose prototypes blend the text tower with image-tower centroids.

    ``text_vectors`` [N, D]: the text-tower embedding of each entry's prompt.
    ``image_centroids`` [N, D] (optional): the mean image embedding of each entry's crops; a row
    of NaN means "no crops" and that entry keeps its text vector. Both are L2-normalised per
    row, then ``prototype = normalise((1 - alpha) * text + alpha * centroid)``. Specials always
    use their text vectors. ``meta`` gains a ``"prototypes"`` record (alpha, counts) unless it
    already has one. Raises ValueError for bad shapes, alpha outside [0, 1], or non-finite input.
    """
    entries = list(entries)
    text = check_vectors(text_vectors, "text_vectors")
    if text.shape[0] != len(entries):
        raise ValueError(f"{len(entries)} entries but {text.shape[0]} text vectors")
    if not torch.isfinite(text).all():
        raise ValueError("text_vectors hold NaN/inf")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if alpha > 0 and image_centroids is None:
        raise ValueError("alpha > 0 needs image_centroids")
    text = _unit_rows(text, entries, "text vector")
    out = text.clone()
    blended = 0
    if image_centroids is not None and alpha > 0:
        cent = check_vectors(image_centroids, "image_centroids")
        if cent.shape != text.shape:
            raise ValueError(f"image_centroids {tuple(cent.shape)} must match text_vectors "
                             f"{tuple(text.shape)}")
        empty = torch.isnan(cent).all(dim=1)
        special = torch.tensor([e.subtype == "special" for e in entries], dtype=torch.bool)
        use = ~empty & ~special
        if not torch.isfinite(cent[use]).all():
            raise ValueError("image_centroids rows must be finite or entirely NaN (no crops)")
        if use.any():
            rows = torch.nonzero(use).flatten()
            cent_unit = _unit_rows(cent[rows], [entries[int(i)] for i in rows], "image centroid")
            mix = (1.0 - alpha) * text[rows] + alpha * cent_unit
            out[rows] = _unit_rows(mix, [entries[int(i)] for i in rows], "blended prototype")
            blended = int(rows.numel())
    meta = dict(meta or {})
    meta.setdefault("prototypes", {"alpha": alpha, "image_centroid_entries": blended,
                                   "text_only_entries": len(entries) - blended})
    return Bank(entries, out, meta)


def _unit_rows(x: torch.Tensor, entries: Sequence[BankEntry], what: str) -> torch.Tensor:
    norms = x.norm(dim=1, keepdim=True)
    zero = torch.nonzero(norms.flatten() < 1e-12).flatten().tolist()
    if zero:
        raise ValueError(f"{what} of {[entries[i].key for i in zero[:5]]} has zero length")
    return x / norms


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
    """The bank of ``langs`` from the mCLIP ``model`` (its export's ``meta`` names it in the bank's meta):
    text-tower prototypes, blended with image centroids of ``centroids_root``'s crops when ``alpha`` > 0."""
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

"""Cluster text / background colour pairs of real word crops into a small JSON for recipe v2.

Each crop is split in two by Otsu's threshold on its luminance; the cluster that holds most of
the crop's border is the background, the other the text. Each side's colour is the median of
its pixels away from the threshold (edge pixels mix both). The (text, background) pairs of all
crops, as 6-vectors, are then clustered by k-means; each centre becomes one pair with its share
of the crops as weight and the mean spread of its members as jitter.

    python tools/colour_pairs.py --out src/mstr/resources/synth/colour_pairs.json \
        --manifest /work/shared/data/real/manifest.jsonl \
        --manifest /work/shared/data/real-extra/en/icdar15_train/manifest.jsonl --k 128
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image


def otsu(values: np.ndarray) -> float:
    """Otsu's threshold of ``values`` in [0, 255] (256-bin histogram)."""
    hist = np.bincount(np.clip(values, 0, 255).astype(np.int64).ravel(), minlength=256).astype(np.float64)
    p = hist / max(hist.sum(), 1.0)
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    between = (mu[-1] * omega - mu) ** 2 / np.maximum(omega * (1 - omega), 1e-12)
    return float(np.argmax(between))


def crop_pair(img: Image.Image, height: int = 32) -> tuple[np.ndarray, np.ndarray] | None:
    """(text RGB, background RGB) in 0..255 of one crop, or None when it does not split."""
    w = max(4, round(img.width * height / max(img.height, 1)))
    rgb = np.asarray(img.convert("RGB").resize((min(w, 8 * height), height), Image.BILINEAR), np.float32)
    lum = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    t = otsu(lum)
    dark = lum <= t
    border = np.zeros_like(dark)
    border[:2], border[-2:], border[:, :2], border[:, -2:] = True, True, True, True
    bg_is_dark = dark[border].mean() > 0.5
    text_mask = ~dark if bg_is_dark else dark
    spread = lum.std() * 0.25       # keep the pixels clearly on their side of the threshold
    text_core = text_mask & (np.abs(lum - t) > spread)
    bg_core = ~text_mask & (np.abs(lum - t) > spread)
    if text_core.sum() < 8 or bg_core.sum() < 8 or text_mask.mean() > 0.7:
        return None
    return np.median(rgb[text_core], axis=0), np.median(rgb[bg_core], axis=0)


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding: (centres ``k, D``, labels ``N``)."""
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        centres.append(x[rng.choice(len(x), p=d2 / d2.sum())])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)
    for _ in range(iters):
        labels = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        new = np.stack([x[labels == j].mean(0) if (labels == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return c, labels


def read_manifest(path: Path) -> list[Path]:
    """Image paths of a manifest (``path_rel`` under its folder, or ``path``)."""
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            out.append(path.parent / (rec.get("path_rel") or rec["path"]))
    return out


def build(manifests: list[Path], k: int, seed: int = 0) -> dict:
    pairs, used, per_source = [], 0, {}
    for m in manifests:
        n = 0
        for p in read_manifest(m):
            with Image.open(p) as im:
                pair = crop_pair(im)
            if pair is not None:
                pairs.append(np.concatenate(pair))
                n += 1
        per_source["/".join(m.parts[-3:])] = n
        used += n
    x = np.stack(pairs).astype(np.float64)
    centres, labels = kmeans(x, min(k, len(x)), seed)
    out = []
    for j, c in enumerate(centres):
        members = x[labels == j]
        if len(members) == 0:
            continue
        jitter = float(np.sqrt(((members - c) ** 2).mean())) if len(members) > 1 else 8.0
        out.append({"text": [round(v) for v in c[:3]], "bg": [round(v) for v in c[3:]],
                    "weight": round(len(members) / len(x), 5), "jitter": round(jitter, 1)})
    out.sort(key=lambda r: -r["weight"])
    return {"version": 1,
            "provenance": {"tool": "tools/colour_pairs.py", "crops_per_manifest": per_source,
                           "crops_used": used, "k": k, "seed": seed,
                           "method": "Otsu split per crop (background = the side holding most of the "
                                     "border), medians of the confident pixels, k-means over "
                                     "(text RGB, background RGB)"},
            "pairs": out}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", action="append", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--k", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    result = build(args.manifest, args.k, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pairs = ",\n  ".join(json.dumps(p) for p in result["pairs"])
    head = json.dumps({k: v for k, v in result.items() if k != "pairs"}, indent=1)[:-2]
    args.out.write_text(f'{head},\n "pairs": [\n  {pairs}\n ]\n}}\n')
    print(f"wrote {len(result['pairs'])} pairs from {result['provenance']['crops_used']} crops to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Side-by-side galleries for docs/data.md: real English crops and recipe-v2 synthetic words.

    python tools/v2_gallery.py --out docs/img --langs en,hi,bn,ta,te,ml,mr,kn --n 24 \
        [--backgrounds DIR]

Writes ``v2-real-en.png`` (the demo's real IIIT5K crops, scaled to the same height) and
``v2-<lang>.png`` per language: ``n`` samples at ``--height`` px, in columns like the real grid.
"""
from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def grid(images: list[Image.Image], columns: int = 4, cell_w: int = 180, gap: int = 4) -> Image.Image:
    """Images (each at most ``cell_w`` wide, left-aligned) in a white grid."""
    h = max(i.height for i in images)
    rows = -(-len(images) // columns)
    out = Image.new("RGB", (columns * (cell_w + gap) + gap, rows * (h + gap) + gap), (255, 255, 255))
    for k, im in enumerate(images):
        if im.width > cell_w:
            im = im.resize((cell_w, im.height), Image.BILINEAR)
        out.paste(im, (gap + (k % columns) * (cell_w + gap), gap + (k // columns) * (h + gap)))
    return out


def real_crops(n: int, height: int) -> list[Image.Image]:
    folder = ROOT / "samples" / "demo"
    recs = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines() if line.strip()]
    out = []
    for rec in recs:
        if rec.get("lang") == "en" and rec["path_rel"].startswith("real/"):
            im = Image.open(folder / rec["path_rel"]).convert("RGB")
            out.append(im.resize((max(4, round(im.width * height / im.height)), height), Image.BILINEAR))
        if len(out) == n:
            break
    return out


def synth_words(lang: str, n: int, height: int, backgrounds: str | None, seed: int) -> list[Image.Image]:
    from mstr.synth.bgbank import resolve_bank_dir
    from mstr.synth.generate import GenSpec, SampleMaker

    spec = GenSpec(kind="words", langs=(lang,), n=n, seed=seed, recipe="v2", height=height,
                   backgrounds=str(resolve_bank_dir(backgrounds)))
    maker = SampleMaker(spec, lang)
    return [Image.open(io.BytesIO(maker.make(g)[0])).convert("RGB") for g in range(n)]


def save(img: Image.Image, path: Path) -> None:
    """A small PNG: 256 colours are plenty for a gallery."""
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--langs", default="en,hi,bn,ta,te,ml,mr,kn")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--height", type=int, default=32)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--backgrounds", default=None)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    save(grid(real_crops(args.n, args.height)), args.out / "v2-real-en.png")
    for lang in args.langs.split(","):
        save(grid(synth_words(lang, args.n, args.height, args.backgrounds, args.seed)), args.out / f"v2-{lang}.png")
        print(f"wrote {args.out / f'v2-{lang}.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

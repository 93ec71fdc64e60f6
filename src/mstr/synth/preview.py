"""Preview grids: synthetic samples beside a clean, large rendering of their labels."""
from __future__ import annotations

from PIL import Image

from mstr.synth.generate import GenSpec, SampleMaker
from mstr.synth.render import char_render_text

__all__ = ["preview_grid"]

_SCALE = 2        # samples are drawn at twice their size
_REF_H = 64       # height of the clean reference rendering


def preview_grid(lang: str, *, kind: str = "words", n: int = 24, seed: int = 0, fonts: str = "train",
                 augment: bool = True, columns: int = 2, recipe: str = "v1", backgrounds: str | None = None,
                 height: int = 32, effects: float = 1.0) -> Image.Image:
    """A grid of ``n`` samples. Each cell: the sample (×2), then the label rendered cleanly.

    The reference uses the same shaping path with the first font of the split, so a
    mis-shaped conjunct or matra shows up in both and can be spotted by eye.
    """
    import io

    spec = GenSpec(kind=kind, langs=(lang,), n=max(n, 1), seed=seed, fonts=fonts, augment=augment,
                   recipe=recipe, backgrounds=backgrounds, height=height, effects=effects)
    maker = SampleMaker(spec, lang)
    clean = SampleMaker(GenSpec(kind="words", langs=(lang,), n=1, fonts=fonts, augment=False,
                                height=_REF_H), lang, maker.fonts)
    cells = []
    for g in range(n):
        data, label = maker.make(g)
        img = Image.open(io.BytesIO(data)).convert("RGB")
        img = img.resize((img.width * _SCALE, img.height * _SCALE), Image.NEAREST)
        text = char_render_text(label) if kind == "chars" else label
        ref_font = next((f for f in clean.fonts if f.has(text)), None)
        ref = clean.synth.render_word(text, _rng(g), font=ref_font) if ref_font else None
        cells.append((img, ref))
    cell_w = max(i.width + (r.width if r else 0) for i, r in cells) + 16
    cell_h = max(max(i.height, r.height if r else 0) for i, r in cells) + 8
    rows = (len(cells) + columns - 1) // columns
    grid = Image.new("RGB", (cell_w * columns, cell_h * rows), (255, 255, 255))
    for k, (img, ref) in enumerate(cells):
        x, y = (k % columns) * cell_w + 4, (k // columns) * cell_h + 4
        grid.paste(img, (x, y))
        if ref is not None:
            grid.paste(ref, (x + img.width + 8, y))
    return grid


def _rng(g: int):
    import numpy as np

    return np.random.default_rng(g)

"""From a string and a font to a finished synthetic crop.

``Synthesizer.render_word`` turns text into a word crop of fixed height and natural width;
``Synthesizer.render_char`` turns one character into a square crop. Both:

1. shape the text with RAQM into a coverage mask (optionally with an outline);
2. warp the mask (rotation, curved baseline, perspective, shear);
3. add margins and scale to the output height;
4. composite a text colour (contrasting with the background), an outline and a drop shadow on a
   procedural background;
5. apply the photometric effects at output resolution, where blur, noise and JPEG artefacts
   look like those of real low-resolution crops.

Everything random comes from the ``rng`` argument, so a sample is a pure function of
``(text, fonts, options, rng seed)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np
from PIL import Image, ImageFilter

from mstr.errors import UserError
from mstr.synth import augment
from mstr.synth.backgrounds import make_background
from mstr.synth.render import char_render_text, load_font, render_mask, require_raqm

__all__ = ["SynthOptions", "Synthesizer", "FontLike"]


class FontLike(Protocol):
    path: str
    index: int

    def has(self, text: str) -> bool: ...


@dataclass(frozen=True)
class SynthOptions:
    """Rendering settings. ``augment=False`` gives clean renders (previews, ablations)."""

    height: int = 32                   # word crop height in pixels (width follows the text)
    char_size: int = 32                # character crops are char_size × char_size
    font_px: tuple[int, int] = (28, 48)
    max_aspect: float = 16.0           # wider words are squeezed to height × max_aspect
    p_stroke: float = 0.12
    p_shadow: float = 0.12
    augment: bool = True
    geometric: dict[str, float] = field(default_factory=dict)    # per-warp probability overrides
    photometric: dict[str, float] = field(default_factory=dict)  # per-effect probability overrides
    recipe: str = "v1"                 # "v2": photo backgrounds, real colours, realism effects
    backgrounds: str | None = None     # v2's background bank folder (default: $MSTR_BACKGROUNDS)
    effects: float = 1.0               # v2's effect probabilities × this (mstr.synth.recipe_v2.scaled_probs)

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise UserError(f"unknown rendering recipe {self.recipe!r}: use one of {', '.join(RECIPES)}")
        check_effects(self.effects, self.recipe)


MAX_EFFECTS = 2.0


def check_effects(effects: float, recipe: str) -> None:
    """A one-line UserError unless ``effects`` is a strength recipe ``recipe`` can use."""
    if not (isinstance(effects, (int, float)) and 0.0 <= effects <= MAX_EFFECTS):
        raise UserError(f"--effects must be a number from 0 to {MAX_EFFECTS:g} (1: recipe v2 as designed), got {effects!r}")
    if effects != 1.0 and recipe != "v2":
        raise UserError(f"--effects scales recipe v2's effects; it has no meaning with --recipe {recipe}")


RECIPES = ("v1", "v2")


LINE_ABOVE = 1.0   # character crops: line box above the baseline, in em (Indic headlines and matras fit)
LINE_BELOW = 0.35  # … and below it (descenders, subscript vowel signs)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _text_colour(rng: np.random.Generator, bg_lum: float) -> np.ndarray:
    """A colour whose luminance differs from the background's by a random, legible margin."""
    need = rng.uniform(0.25, 0.6)
    for _ in range(12):
        col = rng.random(3).astype(np.float32)
        if abs(float(_luminance(col)) - bg_lum) >= need:
            return col
    return np.zeros(3, np.float32) if bg_lum > 0.5 else np.ones(3, np.float32)


def _resize_masks(masks: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(m).resize((w, h), Image.BILINEAR, reducing_gap=2.0))
                     for m in masks])


class Synthesizer:
    """Renders words and characters with a fixed list of fonts (``FontInfo``-like objects)."""

    def __init__(self, fonts: Sequence[FontLike], options: SynthOptions | None = None) -> None:
        require_raqm()
        if not fonts:
            raise ValueError("Synthesizer needs at least one font")
        self.fonts = list(fonts)
        self.options = options or SynthOptions()
        groups: dict[str, list[FontLike]] = {}
        for f in self.fonts:
            groups.setdefault(getattr(f, "design", f.path), []).append(f)
        self._designs = list(groups.values())
        self._v2 = None
        if self.options.recipe == "v2" and self.options.augment:
            from mstr.synth.recipe_v2 import RecipeV2
            self._v2 = RecipeV2(self.options)

    # ------------------------------------------------------------------ helpers
    def pick_font(self, text: str, rng: np.random.Generator) -> FontLike | None:
        """A random font that has every code point of ``text`` (None when no font has).

        A design is drawn first, then one of its files: a family shipped in 40 weights and
        widths must not drown the designs that come as a single file.
        """
        group = self._designs[int(rng.integers(len(self._designs)))]
        font = group[int(rng.integers(len(group)))]
        if font.has(text):
            return font
        for i in rng.permutation(len(self.fonts)):
            if self.fonts[i].has(text):
                return self.fonts[int(i)]
        return None

    def _masks(self, text: str, font: FontLike, rng: np.random.Generator, line_box: bool = False) -> np.ndarray:
        """Coverage masks of ``text`` (fill, and outline when drawn), warped when augmenting.

        Tightly cropped to the ink, or with ``line_box`` padded to the text line around the ink
        (:data:`LINE_ABOVE` em above the baseline, :data:`LINE_BELOW` em below it), so that the
        glyph keeps its size and height in the line: ``c`` stays smaller than ``C``, ``-`` sits
        higher than ``_`` and ``'`` higher than ``,``, as they do inside a word.
        """
        o = self.options
        size = int(rng.integers(o.font_px[0], o.font_px[1] + 1))
        stroke = int(rng.integers(1, max(2, size // 12) + 1)) if o.augment and rng.random() < o.p_stroke else 0
        tm = render_mask(text, load_font(font.path, size, font.index), stroke_width=stroke)
        masks = np.stack([tm.fill, tm.stroke]) if tm.stroke is not None else tm.fill[None]
        if line_box:
            h = masks.shape[1]
            top = max(0, round(LINE_ABOVE * size) - tm.baseline)
            bottom = max(0, round(LINE_BELOW * size) - (h - tm.baseline))
            masks = np.pad(masks, ((0, 0), (top, bottom), (0, 0)))
        if o.augment:
            masks = augment.warp_masks(masks, rng, o.geometric, crop_rows=not line_box)
        return masks

    def _composite(self, masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Colour the masks onto a background of the same size; returns float32 ``H, W, 3``."""
        h, w = masks.shape[1:]
        bg = make_background(rng, h, w) if self.options.augment else np.ones((h, w, 3), np.float32)
        bg_lum = float(_luminance(bg).mean())
        fill = masks[0].astype(np.float32)[..., None] / 255.0
        img = bg
        if self.options.augment and rng.random() < self.options.p_shadow:
            dx, dy = (int(v) for v in rng.integers(-2, 3, 2))
            shadow = np.roll(masks[-1], (dy, dx), axis=(0, 1))
            shadow = np.asarray(Image.fromarray(shadow).filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5))))
            a = shadow.astype(np.float32)[..., None] / 255.0 * rng.uniform(0.4, 0.8)
            img = img * (1 - a)
        colour = _text_colour(rng, bg_lum) if self.options.augment else np.zeros(3, np.float32)
        if masks.shape[0] > 1:  # the outline contrasts with the glyph fill, not only the background
            stroke = masks[1].astype(np.float32)[..., None] / 255.0
            img = img * (1 - stroke) + _text_colour(rng, float(_luminance(colour))) * stroke
        opacity = rng.uniform(0.85, 1.0) if self.options.augment else 1.0
        return img * (1 - fill * opacity) + colour * (fill * opacity)

    def _finish(self, img: np.ndarray, rng: np.random.Generator) -> Image.Image:
        if self.options.augment:
            img = augment.apply_photometric(img, rng, self.options.photometric)
        return Image.fromarray(augment.to_uint8(img))

    # ------------------------------------------------------------------ public
    def render_word(self, text: str, rng: np.random.Generator, font: FontLike | None = None) -> Image.Image | None:
        """A word crop ``height × width`` (RGB) of ``text``; None when no font covers the text."""
        font = font or self.pick_font(text, rng)
        if font is None:
            return None
        if self._v2 is not None:
            return self._v2.render_word(text, font, rng)
        o = self.options
        masks = self._masks(text, font, rng)
        h, w = masks.shape[1:]
        if o.augment:
            top, bottom = (int(v) for v in np.round(rng.uniform(0.02, 0.18, 2) * h))
            left, right = (int(v) for v in np.round(rng.uniform(0.02, 0.25, 2) * h))
        else:
            top = bottom = left = right = max(1, h // 10)
        masks = np.pad(masks, ((0, 0), (top, bottom), (left, right)))
        h, w = masks.shape[1:]
        out_w = int(np.clip(round(w * o.height / h), 4, o.height * o.max_aspect))
        masks = _resize_masks(masks, out_w, o.height)
        return self._finish(self._composite(masks, rng), rng)

    def render_char(self, ch: str, rng: np.random.Generator, font: FontLike | None = None) -> Image.Image | None:
        """A square crop of one character (combining marks on ◌); None when no font has it.

        The character is drawn in its line box (see :meth:`_masks`), scaled to 70–92 % of the side
        and centred, so size and height in the line survive the crop.
        """
        text = char_render_text(ch)
        font = font or self.pick_font(text, rng)
        if font is None:
            return None
        o = self.options
        masks = self._masks(text, font, rng, line_box=True)
        h, w = masks.shape[1:]
        side = o.char_size
        fill = rng.uniform(0.7, 0.92) if o.augment else 0.85
        scale = fill * side / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        small = _resize_masks(masks, nw, nh)
        canvas = np.zeros((masks.shape[0], side, side), np.uint8)
        # the line box is centred with a small jitter: a large vertical shift would blur the
        # position of the glyph in its line (hyphen vs low line), the cue the line box keeps
        jitter = (lambda span: int(np.clip(round(span / 2 + rng.uniform(-0.06, 0.06) * side), 0, span))) \
            if o.augment else (lambda span: span // 2)
        y0, x0 = jitter(side - nh), jitter(side - nw)
        canvas[:, y0:y0 + nh, x0:x0 + nw] = small
        if self._v2 is not None:   # v2's colours, backgrounds, effects and legibility check
            return self._v2.finish(canvas.astype(np.float32) / 255.0, np.zeros((side, side), np.float32), rng)
        return self._finish(self._composite(canvas, rng), rng)

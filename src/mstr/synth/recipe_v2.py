"""Recipe v2: word crops that look like street photos (``SynthOptions(recipe="v2")``).

What MJSynth, SynthText and SynthTIGER found to matter, per word crop (docs/data.md lists the
probabilities, :data:`P` and :data:`mstr.synth.camera.CAMERA_PROBS` hold them):

1. shape the text (RAQM) at one of :data:`FONT_PX` sizes, sometimes with an outline; warp the
   mask (curve, then rotation, shear and perspective as one homography:
   :func:`mstr.synth.projective.warp`);
2. margins of a tight, normal or loose crop; sometimes the next word (another slice of the text
   in the same font) at the left or right edge, or the edge of the line above or below;
3. a smooth displacement (per-glyph wobble, uneven letter spacing:
   :func:`mstr.synth.realism.displace`), then scale to the output height;
4. background: a painted panel, a bank texture tinted to a measured background colour, a bank
   photo (softened, hue-shifted or inverted) or v1's procedural backgrounds; text and background
   colours from pairs measured on real crops (:mod:`mstr.synth.colours`);
5. text fill plain, in a ramp or textured; drop shadow, 3-D extrusion, outline;
6. a bank texture blended over text *and* background (normal / multiply / screen / overlay),
   uneven light (ramp, vignette, spot), then the camera (:func:`mstr.synth.camera.finish`:
   contrast, occlusion, one loss of sharpness, noise, JPEG);
7. a legibility check: a sample whose text does not stand out from the background next to it
   (:func:`mstr.synth.realism.legibility` below :data:`MIN_LEGIBILITY`) is redrawn from step 4
   (up to :data:`REDRAWS` times, then drawn plainly, dark on light or light on dark).
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from mstr.synth import augment, camera, projective, realism
from mstr.synth.backgrounds import make_background
from mstr.synth.bgbank import BackgroundBank, load_bank
from mstr.synth.colours import ColourPairs, load_colour_pairs
from mstr.synth.render import load_font, render_mask

if TYPE_CHECKING:  # pragma: no cover
    from mstr.synth.pipeline import FontLike, SynthOptions

__all__ = ["RecipeV2", "MIN_LEGIBILITY", "REDRAWS", "neighbour_text", "scaled_probs"]

MIN_LEGIBILITY = 1.3
# font sizes before scaling, × output height (v1: 28-48 px for any height). The crop is scaled to
# the output height anyway, so a few sizes suffice, and (font, size) pairs stay few enough for a
# cache that holds every opened font of a language's pool (opening one costs ~0.3 ms).
FONT_PX = (0.8, 1.0, 1.2)
_font = lru_cache(maxsize=4096)(load_font.__wrapped__)
REDRAWS = 4
P = {  # probabilities of v2's steps
    "stroke": 0.15, "neighbour": 0.2, "line": 0.12, "displace": 0.5, "panel": 0.35, "procedural": 0.08,
    "shadow": 0.2, "extrude": 0.1, "text_gradient": 0.15, "text_texture": 0.15, "overlay": 0.3,
    "lighting": 0.45, "pair": 0.85,
}
#: the steps of :data:`P` that are choices of source, not effects: ``SynthOptions.effects`` leaves them alone
SOURCES = ("panel", "procedural", "pair")


def scaled_probs(effects: float) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Recipe v2's probabilities at strength ``effects`` (``SynthOptions.effects``): every effect's
    probability × ``effects``, capped at 1: (:data:`P`, warps of :mod:`mstr.synth.projective`,
    :data:`mstr.synth.camera.CAMERA_PROBS`). 1 is the recipe as designed, 0 draws no effect at all
    (photo backgrounds, measured colours and the signboard vocabulary stay)."""
    def scale(d: dict[str, float], keep: tuple[str, ...] = ()) -> dict[str, float]:
        return {k: v if k in keep else min(1.0, v * effects) for k, v in d.items()}
    return scale(P, SOURCES), scale(projective.DEFAULT_PROBS), scale(camera.CAMERA_PROBS)


def neighbour_text(text: str, rng: np.random.Generator) -> str:
    """A slice of ``text`` cut only before a letter or digit that does not follow a virama,
    so that no mark is left without its base (shaping would draw a dotted circle)."""
    cuts = [i for i in range(1, len(text)) if unicodedata.category(text[i])[0] in "LN"
            and unicodedata.combining(text[i - 1]) != 9]
    points = [0, *cuts, len(text)]
    if len(points) < 3:
        return text
    a = int(rng.integers(0, len(points) - 1))
    b = int(rng.integers(a + 1, len(points)))
    return text[points[a]:points[b]]


def _contrasting(colour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A colour well away from ``colour`` in luminance (outlines, plain redraws)."""
    lum = float(realism.luminance(colour))
    base = rng.uniform(0.0, 0.25) if lum > 0.5 else rng.uniform(0.75, 1.0)
    return np.clip(base + rng.normal(0, 0.06, 3), 0, 1).astype(np.float32)


class RecipeV2:
    """The v2 word renderer; holds the background bank and the colour pairs."""

    def __init__(self, options: "SynthOptions", bank: BackgroundBank | None = None,
                 colours: ColourPairs | None = None) -> None:
        self.options = options
        self.p, warps, cam = scaled_probs(options.effects)   # P at this strength, and the others
        self.warps = {**warps, **options.geometric}      # explicit overrides win
        self.camera = {**cam, **options.photometric}
        self.bank = bank if bank is not None else load_bank(options.backgrounds)
        self.colours = colours or load_colour_pairs()
        self.redraws = 0       # samples redrawn by the legibility check (this process)
        self.fallbacks = 0     # samples that fell back to a plain drawing

    # ------------------------------------------------------------------ masks
    def word_masks(self, text: str, font: "FontLike", rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(masks ``C, H, W`` float32 at output height: fill [+ outline]; neighbour ``H, W``)."""
        o = self.options
        size = round(FONT_PX[int(rng.integers(len(FONT_PX)))] * o.height)
        stroke = int(rng.integers(1, max(2, size // 10) + 1)) if rng.random() < self.p["stroke"] else 0
        pil_font = _font(font.path, size, font.index)
        tm = render_mask(text, pil_font, stroke_width=stroke)
        masks = np.stack([tm.fill, tm.stroke]) if tm.stroke is not None else tm.fill[None]
        masks = projective.warp(masks, rng, self.warps)
        h, w = masks.shape[1:]
        style = rng.random()   # tight, normal or loose crop
        v_lo, v_hi, h_lo, h_hi = ((0.0, 0.05, 0.0, 0.06) if style < 0.25 else
                                  (0.03, 0.18, 0.03, 0.3) if style < 0.8 else (0.15, 0.4, 0.2, 0.7))
        top, bottom = (int(v) for v in np.round(rng.uniform(v_lo, v_hi, 2) * h))
        left, right = (int(v) for v in np.round(rng.uniform(h_lo, h_hi, 2) * h))
        # other text cut by the crop edge: (row, column) of its mask's top left on the canvas, mask
        others: list[tuple[int, int, np.ndarray]] = []
        if rng.random() < self.p["neighbour"]:     # the next word on the line, left or right
            nm = self._other(text, pil_font, stroke, rng)[:h]
            gap = int(rng.uniform(0.25, 0.6) * size)
            extra = min(nm.shape[1], int(rng.uniform(0.3, 1.2) * h))   # how much of it shows
            if rng.random() < 0.5:
                right = gap + extra
                others.append((0, w + gap, nm[:, :extra]))
            else:
                left = gap + extra
                others.append((0, -gap - extra, nm[:, nm.shape[1] - extra:]))
        if rng.random() < self.p["line"]:          # the line above or below, its edge in the crop (only
            nm = masks.max(axis=0)            # an edge shows: the word's own ink will do)
            gap = int(rng.uniform(0.1, 0.35) * h)
            shown = min(nm.shape[0], max(1, int(rng.uniform(0.1, 0.35) * h)))
            dx = int(rng.uniform(-0.5, 0.5) * h)
            if rng.random() < 0.5:
                top = gap + shown
                others.append((-gap - shown, dx, nm[nm.shape[0] - shown:]))
            else:
                bottom = gap + shown
                others.append((h + gap, dx, nm[:shown]))
        c = masks.shape[0]
        canvas = np.zeros((3, top + h + bottom, left + w + right), np.uint8)   # fill, outline, others
        canvas[:c, top:top + h, left:left + w] = masks
        for y, x, nm in others:                # clipped to the canvas
            y0, x0 = top + y, left + x
            ys, xs = max(0, -y0), max(0, -x0)
            y1, x1 = min(canvas.shape[1], y0 + nm.shape[0]), min(canvas.shape[2], x0 + nm.shape[1])
            if y1 > y0 + ys and x1 > x0 + xs:
                canvas[2, y0 + ys:y1, x0 + xs:x1] = np.maximum(canvas[2, y0 + ys:y1, x0 + xs:x1],
                                                               nm[ys:y1 - y0, xs:x1 - x0])
        if rng.random() < self.p["displace"]:
            canvas = realism.displace(canvas, rng, elastic=rng.uniform(0.2, 0.8), spacing=rng.uniform(0.0, 0.08))
        out_h = o.height
        out_w = int(np.clip(round(canvas.shape[2] * out_h / canvas.shape[1]), 4, out_h * o.max_aspect))
        rgb = Image.fromarray(np.ascontiguousarray(canvas.transpose(1, 2, 0)))
        small = np.asarray(rgb.resize((out_w, out_h), Image.BILINEAR, reducing_gap=2.0), np.float32)
        res = small.transpose(2, 0, 1)[[*range(c), 2]] * (1.0 / 255.0)
        return res[:-1], res[-1]

    @staticmethod
    def _other(text: str, pil_font, stroke: int, rng: np.random.Generator) -> np.ndarray:
        """The ink (fill and outline) of another slice of ``text`` in the same font."""
        other = render_mask(neighbour_text(text, rng), pil_font, stroke_width=stroke)
        return np.maximum(other.fill, other.stroke) if other.stroke is not None else other.fill

    # ------------------------------------------------------------------ colours
    def colours_pair(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(text colour, background colour), mostly a measured pair made crisper and more saturated.

        Pairs were measured on finished photos (after their blur and noise) and are cluster
        means (greyer than any member); drawn before our blur and noise, they are pushed apart
        and their chroma stretched, so the finished crops end up near the measured ones.
        """
        if rng.random() >= self.p["pair"]:
            return rng.random(3).astype(np.float32), rng.random(3).astype(np.float32)
        text, bg = self.colours.sample(rng)
        mid, half = (text + bg) / 2, (text - bg) / 2 * np.float32(rng.uniform(1.2, 2.0))
        out = []
        for c in (mid + half, mid - half):
            grey = realism.luminance(c)
            out.append(np.clip(grey + (c - grey) * np.float32(rng.uniform(1.0, 1.8)), 0, 1).astype(np.float32))
        return out[0], out[1]

    def background(self, rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """(background ``H, W, 3``, text colour ``3``): a sign panel, a tinted texture, a photo
        (softened, sometimes hue-shifted or inverted) or one of v1's procedural backgrounds."""
        text, bg_col = self.colours_pair(rng)
        kind = rng.random()
        if kind < self.p["panel"]:   # a painted panel: the measured colour, a faint ramp across it
            other = np.clip(bg_col + rng.normal(0, 0.06, 3), 0, 1).astype(np.float32)
            return realism.gradient_layer(h, w, bg_col, other, rng.uniform(0, np.pi)), text
        if kind < self.p["panel"] + self.p["procedural"]:
            bg = make_background(rng, h, w)
            mean = bg.mean((0, 1))
            if abs(float(realism.luminance(mean) - realism.luminance(text))) < 0.2:
                text = _contrasting(mean, rng)
            return bg, text
        tex = self.bank.crop(rng, h, w)
        mode = rng.random()
        if mode < 0.65:   # the texture's light and shade on the measured background colour
            lum = realism.luminance(tex)
            bg = bg_col + (lum - lum.mean())[..., None] * np.float32(rng.uniform(0.1, 0.5))
        elif mode < 0.85:  # the photo, softened; the text must then contrast with it
            mean = tex.mean((0, 1))
            bg = mean + (tex - mean) * np.float32(rng.uniform(0.2, 0.8))
            if abs(float(realism.luminance(mean) - realism.luminance(text))) < 0.25:
                text = bg_col if abs(float(realism.luminance(mean) - realism.luminance(bg_col))) >= 0.25 \
                    else _contrasting(mean, rng)
        elif mode < 0.93:
            bg = realism.hue_rotate(tex, rng.uniform(0.5, 5.8))
            text = _contrasting(bg.mean((0, 1)), rng)
        else:
            bg = 1.0 - tex
            text = _contrasting(bg.mean((0, 1)), rng)
        return np.clip(bg, 0, 1).astype(np.float32), text

    def text_layer(self, rng: np.random.Generator, colour: np.ndarray, h: int, w: int) -> np.ndarray:
        """The text fill: plain, a gradient, or a colour with a photo texture in it (``H, W, 3``)."""
        r = rng.random()
        if r < self.p["text_gradient"]:
            other = np.clip(colour + rng.normal(0, 0.15, 3), 0, 1).astype(np.float32)
            return realism.gradient_layer(h, w, colour, other, rng.uniform(0, np.pi))
        if r < self.p["text_gradient"] + self.p["text_texture"]:
            tex = self.bank.crop(rng, h, w)
            mode = ("multiply", "screen", "overlay")[int(rng.integers(3))]
            return np.clip(realism.blend(np.broadcast_to(colour, (h, w, 3)), tex, mode, rng.uniform(0.2, 0.5)), 0, 1)
        return np.broadcast_to(colour, (h, w, 3))

    # ------------------------------------------------------------------ compose
    def compose(self, masks: np.ndarray, near: np.ndarray, rng: np.random.Generator) -> tuple[Image.Image, np.ndarray]:
        """Colour, effects and the camera finish: (RGB crop, all-ink mask ``H, W``)."""
        h, w = masks.shape[1:]
        fill = masks[0]
        bg, colour = self.background(rng, h, w)
        img = bg
        ink = np.maximum(fill, near)
        if rng.random() < self.p["shadow"]:
            sh = realism.soft_shadow(masks[-1], rng)
            img = img * (1 - sh[..., None] * rng.uniform(0.4, 0.85))
            ink = np.maximum(ink, sh)
        if rng.random() < self.p["extrude"]:
            ex = realism.extrusion(masks[-1], rng)
            side = np.clip(colour * rng.uniform(0.3, 0.7), 0, 1) if realism.luminance(colour) > 0.4 \
                else np.clip(colour + rng.uniform(0.2, 0.4), 0, 1)
            img = img + (side - img) * ex[..., None]
            ink = np.maximum(ink, ex)
        if masks.shape[0] > 1:
            st = masks[1][..., None]
            img = img + (_contrasting(colour, rng) - img) * st
            ink = np.maximum(ink, masks[1])
        layer = self.text_layer(rng, colour, h, w)
        a = (fill * rng.uniform(0.8, 1.0))[..., None]
        img = img + (layer - img) * a
        if near.any():
            img = img + (colour - img) * near[..., None]
        if rng.random() < self.p["overlay"]:
            mode = realism.BLEND_MODES[int(rng.integers(len(realism.BLEND_MODES)))]
            alpha = rng.uniform(0.05, 0.25) if mode == "normal" else rng.uniform(0.15, 0.45)
            img = realism.blend(img, self.bank.crop(rng, h, w), mode, alpha)
        if rng.random() < self.p["lighting"]:
            img = realism.lighting(img, rng)
        return camera.finish(img, rng, self.camera), ink

    def plain_image(self, masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The fallback after :data:`REDRAWS` illegible draws: dark on light or light on dark."""
        fill = masks[0][..., None]
        bg = np.broadcast_to(np.float32(rng.uniform(0.75, 1.0)) if rng.random() < 0.6
                             else np.float32(rng.uniform(0.0, 0.2)), fill.shape[:2] + (3,))
        text = _contrasting(bg[0, 0], rng)
        return bg + (text - bg) * fill

    def finish(self, masks: np.ndarray, near: np.ndarray, rng: np.random.Generator) -> Image.Image:
        """Compose with the legibility check and redraws; an RGB crop."""
        for _ in range(REDRAWS + 1):
            img, ink = self.compose(masks, near, rng)
            if realism.legibility(np.asarray(img, np.float32) * (1 / 255), masks[0], ink) >= MIN_LEGIBILITY:
                return img
            self.redraws += 1
        self.fallbacks += 1
        return Image.fromarray(augment.to_uint8(self.plain_image(masks, rng)))

    def render_word(self, text: str, font: "FontLike", rng: np.random.Generator) -> Image.Image:
        """A ``height × width`` RGB word crop of ``text`` drawn with ``font``."""
        masks, near = self.word_masks(text, font, rng)
        return self.finish(masks, near, rng)

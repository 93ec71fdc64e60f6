"""Shaped text rendering: word images and single-character crops.

Text is laid out by Pillow's RAQM engine (HarfBuzz shaping + FriBiDi), which is what makes
Indic conjuncts, reph and pre-base matras and Arabic joining come out right. Without RAQM Pillow
silently falls back to a basic layout that draws each code point in logical order: the result
looks plausible and is wrong, so :func:`require_raqm` refuses to go on.

Combining marks cannot stand alone: a character crop of a mark is rendered on the dotted circle
◌ (U+25CC), as shaping engines display an isolated mark; its label stays the mark alone.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from mstr.errors import UserError

__all__ = ["require_raqm", "load_font", "render_mask", "char_render_text", "TextMask", "DOTTED_CIRCLE"]

DOTTED_CIRCLE = "\u25cc"


def require_raqm() -> None:
    """Raise a :class:`UserError` unless Pillow can shape text with RAQM (HarfBuzz + FriBiDi)."""
    if not features.check("raqm"):
        raise UserError(
            "Pillow cannot shape text: its RAQM layout engine is unavailable (libraqm/libfribidi "
            "not found). Indic and Arabic text would be drawn unshaped - plausible-looking and wrong. "
            "Install the system library (Debian/Ubuntu: 'apt-get install libfribidi0 libraqm0', or run "
            "'make setup') and try again."
        )


@lru_cache(maxsize=512)
def load_font(path: str, size: int, index: int = 0) -> ImageFont.FreeTypeFont:
    """Open a font at ``size`` pixels with the RAQM layout engine (cached per process)."""
    require_raqm()
    try:
        return ImageFont.truetype(path, size=size, index=index, layout_engine=ImageFont.Layout.RAQM)
    except OSError as exc:
        raise UserError(f"cannot open font {path} (face {index}): {exc}") from exc


def _direction(text: str) -> str | None:
    """'rtl' for text holding right-to-left letters (Arabic script), else None (auto)."""
    for ch in text:
        if unicodedata.bidirectional(ch) in ("R", "AL"):
            return "rtl"
    return None


@dataclass
class TextMask:
    """Ink coverage of one shaped string, cropped to its ink box.

    ``fill`` is the glyph coverage (uint8, ``H, W``); ``stroke`` the coverage of the glyphs
    drawn with an outline (or None); ``baseline`` the row of the baseline inside the crop.
    """

    fill: np.ndarray
    stroke: np.ndarray | None
    baseline: int


def render_mask(text: str, font: ImageFont.FreeTypeFont, stroke_width: int = 0) -> TextMask:
    """Shape and draw ``text`` as a coverage mask tightly cropped to its ink.

    The drawing canvas is padded by the font's full ascender + descender on every side (more,
    for designs whose ink overflows their declared metrics) and the ink box is measured from
    the pixels, so tall matras, stacked conjuncts and descending marks are never clipped,
    whatever the font's metrics claim. Raises ValueError for text that leaves no ink (nothing
    to read).
    """
    shaped = unicodedata.normalize("NFC", text)
    ascent, descent = font.getmetrics()
    direction = _direction(shaped)
    length = font.getlength(shaped, direction=direction)
    # Display faces (e.g. swashes, heavy Tamil designs) may draw ink well beyond their declared
    # metrics: when the ink reaches the canvas edge, draw again on a canvas twice as padded.
    line = max(ascent + descent, int(getattr(font, "size", 0)))
    for grow in (1, 2, 4, 8):
        pad = grow * line + 2 * stroke_width
        width = int(length) + 2 * pad
        height = ascent + descent + 2 * pad
        origin = (pad, pad + ascent)
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        draw.text(origin, shaped, font=font, fill=255, anchor="ls", direction=direction)
        stroke_img = None
        if stroke_width > 0:
            stroke_img = Image.new("L", (width, height), 0)
            ImageDraw.Draw(stroke_img).text(origin, shaped, font=font, fill=255, anchor="ls",
                                            direction=direction, stroke_width=stroke_width, stroke_fill=255)
        box = (stroke_img or canvas).getbbox()
        if box is None:
            raise ValueError(f"text {text!r} leaves no ink with font {font.path}")
        left, top, right, bottom = box
        if left > 0 and top > 0 and right < width and bottom < height:
            break
    else:
        raise ValueError(f"ink of {text!r} overflows a canvas padded by 8 em with font {font.path}")
    fill = np.asarray(canvas.crop(box))
    stroke = np.asarray(stroke_img.crop(box)) if stroke_img is not None else None
    return TextMask(fill=fill, stroke=stroke, baseline=origin[1] - top)


def char_render_text(ch: str) -> str:
    """The string drawn for a character crop: combining marks sit on the dotted circle ◌."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Mc", "Me"):
        return DOTTED_CIRCLE + ch
    return ch

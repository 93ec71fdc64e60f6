"""An overlay of a whole-photo reading: each word's polygon drawn on the photo and its text written
above it with a system font that covers the word's script.

Fonts are looked up by file name among the system fonts (``/usr/share/fonts`` and the other
usual folders; Noto Sans per script, installed by ``make setup``); when none covers a script,
DejaVu Sans, then Pillow's built-in font, stand in. Only Pillow is imported: no font tools.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

__all__ = ["draw_overlay", "font_for_script", "SCRIPT_FONT_FILES"]

#: ISO 15924 script → font file names to try, best first
SCRIPT_FONT_FILES: dict[str, tuple[str, ...]] = {
    "Latn": ("NotoSans-Regular.ttf", "DejaVuSans.ttf"),
    "Deva": ("NotoSansDevanagari-Regular.ttf", "Lohit-Devanagari.ttf"),
    "Beng": ("NotoSansBengali-Regular.ttf", "Lohit-Bengali.ttf"),
    "Guru": ("NotoSansGurmukhi-Regular.ttf", "Lohit-Gurmukhi.ttf"),
    "Gujr": ("NotoSansGujarati-Regular.ttf", "Lohit-Gujarati.ttf"),
    "Orya": ("NotoSansOriya-Regular.ttf", "Lohit-Odia.ttf"),
    "Taml": ("NotoSansTamil-Regular.ttf", "Lohit-Tamil.ttf"),
    "Telu": ("NotoSansTelugu-Regular.ttf", "Lohit-Telugu.ttf"),
    "Knda": ("NotoSansKannada-Regular.ttf", "Lohit-Kannada.ttf"),
    "Mlym": ("NotoSansMalayalam-Regular.ttf", "Lohit-Malayalam.ttf"),
    "Arab": ("NotoNaskhArabic-Regular.ttf", "NotoSansArabic-Regular.ttf", "Amiri-Regular.ttf"),
}
_FALLBACK = ("NotoSans-Regular.ttf", "DejaVuSans.ttf")
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"),
              str(Path.home() / ".local/share/fonts"))


@lru_cache(maxsize=1)
def _font_files() -> dict[str, str]:
    """File name → path of every font file under the system font folders (first found wins)."""
    found: dict[str, str] = {}
    for root in _FONT_DIRS:
        for folder, _, files in os.walk(root):
            for name in files:
                if name.lower().endswith((".ttf", ".otf")):
                    found.setdefault(name, os.path.join(folder, name))
    return found


def font_for_script(script: str | None) -> str | None:
    """The path of a system font that covers ``script`` (ISO 15924), or None when there is none."""
    files = _font_files()
    for name in SCRIPT_FONT_FILES.get(script or "", ()) + _FALLBACK:
        if name in files:
            return files[name]
    return None


@lru_cache(maxsize=64)
def _font(script: str | None, px: int) -> Any:
    path = font_for_script(script)
    if path is None:
        return ImageFont.load_default(px)
    try:
        return ImageFont.truetype(path, px, layout_engine=ImageFont.Layout.RAQM)
    except (OSError, KeyError, ImportError):  # no RAQM: basic layout
        return ImageFont.truetype(path, px)


def _colour(confidence: float) -> tuple[int, int, int]:
    """Green for a confident reading, amber for a doubtful one, red for a poor one."""
    return (40, 200, 80) if confidence >= 0.5 else (240, 170, 20) if confidence >= 0.2 else (230, 50, 50)


def draw_overlay(image: Image.Image, reading: Any, *, max_side: int = 1600) -> Image.Image:
    """``image`` (scaled so its longer side is at most ``max_side``) with every word of
    ``reading`` (a :class:`~mstr.photo.PhotoReading`) outlined, coloured by confidence, and its
    text written on a dark label above the outline."""
    scale = min(1.0, max_side / max(image.size))
    out = image.convert("RGB")
    if scale < 1.0:
        out = out.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    draw = ImageDraw.Draw(out)
    line_w = max(2, round(max(out.size) / 400))
    for word in reading.words:
        pts = [(x * scale, y * scale) for x, y in word.polygon]
        colour = _colour(word.confidence)
        draw.polygon(pts, outline=colour, width=line_w)
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        px = int(max(12, min(32, 0.55 * (max(ys) - min(ys)))))
        font = _font(word.script, px)
        left, top = min(xs), min(ys)
        label = word.text
        box = draw.textbbox((0, 0), label, font=font)
        w, h = box[2] - box[0], box[3] - box[1]
        y = top - h - 6 if top - h - 6 >= 0 else max(ys) + 2
        x = min(max(0.0, left), max(0.0, out.width - w - 4))
        draw.rectangle([x, y, x + w + 4, y + h + 4], fill=(0, 0, 0))
        draw.text((x + 2 - box[0], y + 2 - box[1]), label, font=font, fill=colour)
    return out

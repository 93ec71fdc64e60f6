"""Rendered multi-script signs with known content, for testing whole-photo reading.

:func:`render_sign` draws a sign board — a coloured panel with a border and 3–5 lines of common
sign words, each line in one language — pastes it, turned by a few degrees, onto a noisy
backdrop, and returns the image with every word's text and polygon (4 corners in photo pixels,
in the word's own frame: top-left, top-right, bottom-right, bottom-left). Text is shaped by
RAQM with a Noto font of the language (the ``train`` side of the font split, as the model saw
in training: the signs test detection, rectification, word splitting and ordering, not font
generalisation).

The words are everyday sign words written by hand for each shipped language (:data:`SIGN_WORDS`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mstr.synth.render import require_raqm

__all__ = ["SIGN_WORDS", "SignWord", "render_sign", "sign_font"]

#: common words on signs, per language (the shipped model's languages)
SIGN_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("Station", "Hotel", "Bank", "Market", "Road", "Open", "Exit", "Hospital", "School", "Police",
           "Street", "Coffee", "Bus", "Stop", "Museum", "Garden", "Parking", "Ticket", "Office", "Water"),
    "hi": ("स्टेशन", "होटल", "बाजार", "अस्पताल", "स्कूल", "पुलिस", "सड़क", "बैंक", "दुकान", "पानी", "मंदिर",
           "रेलवे", "डाकघर", "टिकट"),
    "bn": ("স্টেশন", "হোটেল", "বাজার", "হাসপাতাল", "স্কুল", "পুলিশ", "রাস্তা", "ব্যাংক", "দোকান", "জল",
           "মন্দির", "টিকিট"),
    "ta": ("நிலையம்", "உணவகம்", "சந்தை", "மருத்துவமனை", "பள்ளி", "காவல்", "சாலை", "வங்கி", "கடை",
           "தண்ணீர்", "கோயில்", "அலுவலகம்"),
    "te": ("స్టేషన్", "హోటల్", "మార్కెట్", "ఆసుపత్రి", "పాఠశాల", "పోలీస్", "రోడ్డు", "బ్యాంకు", "దుకాణం",
           "నీరు", "గుడి", "కార్యాలయం"),
    "ml": ("സ്റ്റേഷൻ", "ഹോട്ടൽ", "ചന്ത", "ആശുപത്രി", "സ്കൂൾ", "പോലീസ്", "റോഡ്", "ബാങ്ക്", "കട", "വെള്ളം",
           "ക്ഷേത്രം", "ഓഫീസ്"),
}

#: (panel, text) colour pairs of sign boards
_COLOURS = (((30, 70, 140), (250, 250, 250)), ((20, 110, 60), (255, 255, 255)), ((245, 245, 235), (20, 20, 20)),
            ((250, 200, 40), (15, 15, 15)), ((150, 30, 30), (255, 250, 240)), ((40, 40, 40), (255, 220, 60)))


@dataclass(frozen=True)
class SignWord:
    """A word on a rendered sign: its text, language and 4-corner polygon in photo pixels."""

    text: str
    lang: str
    polygon: tuple[tuple[float, float], ...]


@lru_cache(maxsize=None)
def sign_font(lang: str) -> str:
    """The path of the font signs of ``lang`` are drawn with: a Noto Sans regular face when one
    covers it, else the first ``train``-split font."""
    from mstr.fonts import fonts_for_lang

    fonts = fonts_for_lang(lang, "train")
    noto = [f.path for f in fonts if "NotoSans" in f.path.replace(" ", "") and "Regular" in f.path]
    return (noto or [f.path for f in fonts if "Noto" in f.path] or [fonts[0].path])[0]


def _turn(points: np.ndarray, centre: np.ndarray, degrees: float, offset: np.ndarray) -> np.ndarray:
    """``points`` (N × 2) turned by ``degrees`` counter-clockwise (as :meth:`Image.rotate`) about
    ``centre``, then moved by ``offset``."""
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    return (points - centre) @ rot.T + centre + offset


def render_sign(seed: int, langs: tuple[str, ...] = tuple(SIGN_WORDS), *, lines: tuple[int, int] = (3, 5),
                size: tuple[int, int] = (960, 720), max_turn: float = 6.0) -> tuple[Image.Image, list[SignWord]]:
    """A sign photo and its words (reading order: lines top to bottom, words left to right).

    ``seed`` fixes everything; each line is 1–3 words of one language drawn from ``langs``;
    the board is turned by up to ``max_turn`` degrees and pasted on a ``size`` noisy backdrop."""
    require_raqm()
    rng = np.random.default_rng(seed)
    n_lines = int(rng.integers(lines[0], lines[1] + 1))
    panel_c, text_c = _COLOURS[int(rng.integers(len(_COLOURS)))]
    font_px = int(rng.integers(34, 50))
    content = []
    for _ in range(n_lines):
        lang = langs[int(rng.integers(len(langs)))]
        k = int(rng.integers(1, 4))
        words = [SIGN_WORDS[lang][i] for i in rng.choice(len(SIGN_WORDS[lang]), size=k, replace=False)]
        content.append((lang, words))
    # lay the lines out on a board just large enough
    probe = ImageDraw.Draw(Image.new("RGB", (8, 8)))
    fonts = {lang: ImageFont.truetype(sign_font(lang), font_px, layout_engine=ImageFont.Layout.RAQM)
             for lang, _ in content}
    space = font_px * 0.6
    widths = [sum(probe.textlength(w, font=fonts[lang]) for w in words) + space * (len(words) - 1)
              for lang, words in content]
    pitch, margin = int(font_px * 1.9), int(font_px * 0.9)
    board = Image.new("RGB", (int(max(widths)) + 2 * margin, pitch * n_lines + 2 * margin - int(font_px * 0.5)),
                      panel_c)
    draw = ImageDraw.Draw(board)
    draw.rectangle([4, 4, board.width - 5, board.height - 5], outline=text_c, width=3)
    placed: list[tuple[str, str, np.ndarray]] = []
    for row, ((lang, words), width) in enumerate(zip(content, widths)):
        x, y = margin + (max(widths) - width) / 2, margin + row * pitch
        for w in words:
            left, top, right, bottom = draw.textbbox((x, y), w, font=fonts[lang])
            draw.text((x, y), w, font=fonts[lang], fill=text_c)
            placed.append((w, lang, np.array([[left, top], [right, top], [right, bottom], [left, bottom]], float)))
            x += draw.textlength(w, font=fonts[lang]) + space
    # turn the board and paste it onto a backdrop
    turn = float(rng.uniform(-max_turn, max_turn))
    turned = board.rotate(turn, resample=Image.BICUBIC, expand=True, fillcolor=(0, 0, 0))
    alpha = Image.new("L", board.size, 255).rotate(turn, resample=Image.BICUBIC, expand=True, fillcolor=0)
    scale = min(1.0, 0.9 * size[0] / turned.width, 0.9 * size[1] / turned.height)
    if scale < 1.0:
        turned = turned.resize((int(turned.width * scale), int(turned.height * scale)), Image.BICUBIC)
        alpha = alpha.resize(turned.size, Image.BICUBIC)
    noise = rng.normal(0, 25, (size[1] // 8, size[0] // 8, 3)) + rng.uniform(60, 190, 3)
    back = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)).resize(size, Image.BICUBIC)
    back = back.filter(ImageFilter.GaussianBlur(2))
    ox = int(rng.integers(0, size[0] - turned.width + 1))
    oy = int(rng.integers(0, size[1] - turned.height + 1))
    back.paste(turned, (ox, oy), alpha)
    centre = np.array(board.size, float) / 2
    new_centre = np.array([turned.width, turned.height], float) / 2 / scale
    out = []
    for text, lang, quad in placed:
        q = (_turn(quad, centre, turn, new_centre - centre)) * scale + [ox, oy]
        out.append(SignWord(text, lang, tuple((float(a), float(b)) for a, b in q)))
    return back, out

"""Rendering: RAQM shaping really applied, no clipping, marks on ◌, augmentations, determinism."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, features

from mstr.errors import UserError
from mstr.synth import augment
from mstr.synth.pipeline import Synthesizer, SynthOptions
from mstr.synth.render import DOTTED_CIRCLE, char_render_text, load_font, render_mask, require_raqm


def test_raqm_is_available():
    assert features.check("raqm"), "Pillow must shape with RAQM: install libfribidi0 (make setup)"


def test_require_raqm_refuses_without_it(monkeypatch):
    monkeypatch.setattr("mstr.synth.render.features.check", lambda name: False)
    with pytest.raises(UserError, match="libfribidi0"):
        require_raqm()


def test_conjunct_is_shaped_narrower_than_unshaped(deva_font_path):
    """क्षि shaped is one conjunct + pre-base matra; unshaped it is 4 glyphs side by side."""
    shaped = load_font(deva_font_path, 48)
    basic = ImageFont.truetype(deva_font_path, 48, layout_engine=ImageFont.Layout.BASIC)
    w_shaped = shaped.getlength("क्षि")
    w_basic = basic.getlength("क्षि")
    assert w_shaped < 0.7 * w_basic


def test_pre_base_matra_drawn_left_of_consonant(deva_font_path):
    """In कि the matra ि is drawn before (left of) क: the leftmost ink column belongs to ि."""
    font = load_font(deva_font_path, 64)
    ki = render_mask("कि", font).fill
    ka = render_mask("क", font).fill
    assert ki.shape[1] > ka.shape[1]
    # the matra's stem rises above the headline on the left: ink in the top-left corner of कि
    top_left = ki[: ki.shape[0] // 5, : ki.shape[1] // 4]
    assert top_left.max() > 128


@pytest.mark.parametrize("text", ["कुँ", "ड्ढ्र", "र्क्षि", "Ågj", "ഞ്ഞു"])
def test_render_mask_never_clips(text, hi_fonts):
    from mstr.fonts import discover_fonts

    font_info = next((f for f in discover_fonts() if f.has(text) and "Noto" in f.path), None)
    if font_info is None:
        pytest.skip(f"no Noto font covers {text!r}")
    font = load_font(font_info.path, 40, font_info.index)
    mask = render_mask(text, font).fill
    # reference: the same text drawn on a huge canvas, ink box measured there
    big = Image.new("L", (2000, 600), 0)
    ImageDraw.Draw(big).text((500, 300), text, font=font, fill=255, anchor="ls")
    l, t, r, b = big.getbbox()
    assert mask.shape == (b - t, r - l)
    assert mask[0].max() > 0 and mask[-1].max() > 0 and mask[:, 0].max() > 0 and mask[:, -1].max() > 0


class _UnderstatedMetrics:
    """A real font that claims a 2-pixel line: its ink overflows the declared metrics, as some
    display faces' swashes and heavy Tamil designs do (fontpool/Taml/coiny.woff2)."""

    def __init__(self, font):
        self._font = font
        self.path = font.path

    def getmetrics(self):
        return 1, 1

    def __getattr__(self, name):
        return getattr(self._font, name)


def test_render_mask_grows_the_canvas_when_ink_overflows_the_metrics(hi_fonts):
    font = load_font(hi_fonts[0].path, 40, hi_fonts[0].index)
    honest = render_mask("कुँ", font).fill
    mask = render_mask("कुँ", _UnderstatedMetrics(font)).fill   # raised ValueError before
    assert mask.shape == honest.shape
    assert np.array_equal(mask, honest)


def test_combining_marks_render_on_dotted_circle():
    assert char_render_text("ि") == DOTTED_CIRCLE + "ि"
    assert char_render_text("्") == DOTTED_CIRCLE + "्"
    assert char_render_text("क") == "क"
    assert char_render_text("a") == "a"


def test_word_image_shape_and_determinism(hi_fonts):
    synth = Synthesizer(hi_fonts)
    a = synth.render_word("नमस्ते", np.random.default_rng(7))
    b = synth.render_word("नमस्ते", np.random.default_rng(7))
    c = synth.render_word("नमस्ते", np.random.default_rng(8))
    assert a.mode == "RGB" and a.height == 32 and a.width >= 16
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_char_crop_is_square(hi_fonts):
    synth = Synthesizer(hi_fonts, SynthOptions(char_size=32))
    img = synth.render_char("ि", np.random.default_rng(0))
    assert img.size == (32, 32)


def _ink_rows(img):
    ys = np.nonzero((np.asarray(img.convert("L")) < 128).any(axis=1))[0]
    return ys.min(), ys.max()


def test_char_crop_keeps_size_and_height_in_the_line():
    # a crop scaled to its ink box cannot tell '-' from '_', ',' from "'" or 'c' from 'C';
    # drawn in its line box the character keeps its place and size, as inside a word
    from mstr.fonts import fonts_for_lang

    fonts = [f for f in fonts_for_lang("en", "train") if "NotoSans-Regular" in f.path][:1]
    assert fonts, "Noto Sans Regular is a training font for English"
    synth = Synthesizer(fonts, SynthOptions(augment=False))
    rows = {ch: _ink_rows(synth.render_char(ch, np.random.default_rng(0))) for ch in "-_',cC"}
    centre = {ch: (a + b) / 2 for ch, (a, b) in rows.items()}
    assert centre["-"] + 4 < centre["_"]
    assert centre["'"] + 4 < centre[","]
    assert rows["c"][1] - rows["c"][0] + 3 < rows["C"][1] - rows["C"][0]


def test_warp_can_keep_the_line_box_rows():
    masks = np.zeros((1, 20, 30), np.uint8)
    masks[0, 8:12, 5:25] = 255  # a hyphen in the middle of its line box
    no_warp = {k: 0.0 for k in augment.GEOMETRIC}
    assert augment.warp_masks(masks, np.random.default_rng(0), no_warp).shape == (1, 4, 20)
    assert augment.warp_masks(masks, np.random.default_rng(0), no_warp, crop_rows=False).shape == (1, 20, 20)


def test_no_font_for_text_returns_none(hi_fonts):
    no_tamil = [f for f in hi_fonts if not f.has("தமிழ்")]  # multi-script faces (FreeSerif) may have it
    assert no_tamil
    synth = Synthesizer(no_tamil)
    assert synth.render_word("தமிழ்", np.random.default_rng(0)) is None


def test_clean_render_is_dark_text_on_white(hi_fonts):
    synth = Synthesizer(hi_fonts, SynthOptions(augment=False))
    arr = np.asarray(synth.render_word("कमल", np.random.default_rng(0)))
    assert arr.max() == 255 and arr.min() < 60


def test_there_are_at_least_ten_augmentations():
    assert len(augment.PHOTOMETRIC) + len(augment.GEOMETRIC) >= 10


@pytest.mark.parametrize("name", sorted(augment.PHOTOMETRIC))
def test_photometric_changes_image_keeps_shape(name):
    rng = np.random.default_rng(3)
    img = np.full((32, 100, 3), 0.9, np.float32)
    img[8:24, 20:80] = 0.1
    fn = augment.PHOTOMETRIC[name][0]
    out = np.clip(fn(img.copy(), rng), 0, 1)
    assert out.shape == img.shape
    assert np.abs(out - img).mean() > 1e-3


@pytest.mark.parametrize("name", sorted(augment.GEOMETRIC))
def test_geometric_keeps_ink(name):
    masks = np.zeros((1, 30, 90), np.uint8)
    masks[0, 5:25, 10:80] = 255
    out = augment.GEOMETRIC[name][0](masks, np.random.default_rng(5))
    assert out.ndim == 3 and out.shape[0] == 1
    assert out.shape != masks.shape or not np.array_equal(out, masks)
    # the ink is moved, not lost (bilinear resampling may smear, never drop it)
    assert out.astype(np.float64).sum() >= 0.8 * masks.astype(np.float64).sum()


def test_png_is_deterministic(hi_fonts):
    synth = Synthesizer(hi_fonts)

    def png(seed):
        buf = io.BytesIO()
        synth.render_word("भारत", np.random.default_rng(seed)).save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

    assert png(1) == png(1)

"""mstr.detect: the numpy geometry of DB post-processing, and the PP-OCRv6 detector on a rendered sign
holding Latin, Devanagari, Tamil, Bengali and Urdu lines (run when the peers extra is installed)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, features

from mstr.detect.db import boxes_from_map, grow_rect
from mstr.detect.geometry import (convex_hull, label_components, min_area_rect, order_corners, polygon_area,
                                  quad_iou)
from mstr.errors import UserError

HAVE_DETECTOR = importlib.util.find_spec("rapidocr") is not None


def test_components_are_8_connected_runs():
    m = np.zeros((6, 10), dtype=bool)
    m[0, 0:3] = True
    m[1, 3] = True          # touches the first run diagonally only
    m[4:6, 6:9] = True      # a separate block
    m[2, 9] = True          # a lone pixel
    comps = label_components(m)
    sizes = sorted(int((c[:, 2] - c[:, 1]).sum()) for c in comps)
    assert sizes == [1, 4, 6]
    total = np.zeros_like(m)
    for c in comps:
        for y, s, e in c:
            total[y, s:e] = True
    assert (total == m).all()


def test_min_area_rect_of_a_rotated_rectangle():
    rng = np.random.default_rng(0)
    a = np.deg2rad(25)
    u, v = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
    pts = np.array([[20, 30]]) + rng.uniform(0, 40, (400, 1)) * u + rng.uniform(0, 10, (400, 1)) * v
    pts = np.vstack([pts, [20, 30] + 0 * u, [20, 30] + 40 * u + 10 * v, [20, 30] + 40 * u, [20, 30] + 10 * v])
    box, w, h = min_area_rect(pts)
    assert sorted([w, h]) == pytest.approx([10, 40], abs=1e-6)
    assert polygon_area(box) == pytest.approx(400, rel=1e-6)
    assert len(convex_hull(pts)) >= 4
    grown, gw, gh = grow_rect(box, w, h, 1.6)
    d = 400 * 1.6 / 100  # area × ratio / perimeter
    assert sorted([gw, gh]) == pytest.approx([10 + 2 * d, 40 + 2 * d])
    assert polygon_area(grown) == pytest.approx((10 + 2 * d) * (40 + 2 * d), rel=1e-6)
    tl, tr, br, bl = order_corners(grown)
    assert tl[0] < tr[0] and tl[1] < bl[1] and br[1] > tr[1]


def test_boxes_from_map_keeps_confident_blocks_and_scales_them():
    prob = np.zeros((40, 80), dtype=np.float32)
    prob[5:15, 10:60] = 0.9    # a text line
    prob[25:35, 10:30] = 0.35  # above the threshold, below box_thresh
    prob[30, 70] = 0.99        # one pixel: under min_size
    found = boxes_from_map(prob, (160, 80), thresh=0.3, box_thresh=0.5)
    assert len(found) == 1
    box, score = found[0]
    assert 0.7 < score <= 0.9  # the mean inside the (dilated) region's rectangle
    # the dilated block spans pixel centres x 10..60, y 5..15 (50 × 10); grown by d = 500 × 1.6 / 120 on
    # each side, scaled × 2 to the image and clipped at its top edge
    d = 50 * 10 * 1.6 / 120
    expected = np.array([[10 - d, 5 - d], [60 + d, 5 - d], [60 + d, 15 + d], [10 - d, 15 + d]]) * 2
    expected[:, 1] = np.clip(expected[:, 1], 0, 80)
    assert np.allclose(box, expected)


LINES = [("en", "Central Railway Station"), ("hi", "केंद्रीय रेलवे स्टेशन"), ("ta", "மத்திய ரயில் நிலையம்"),
         ("bn", "কেন্দ্রীয় রেল স্টেশন"), ("ur", "مرکزی ریلوے اسٹیشن")]


def _sign() -> tuple[Image.Image, list[np.ndarray]]:
    from mstr.fonts import fonts_for_lang

    im = Image.new("RGB", (760, 470), (30, 70, 140))
    d = ImageDraw.Draw(im)
    d.rectangle([8, 8, 751, 461], outline=(235, 235, 235), width=4)
    boxes, y = [], 34
    for lang, text in LINES:
        fonts = fonts_for_lang(lang, "train")
        path = ([f.path for f in fonts if "Noto" in f.path and "Regular" in f.path] or [fonts[0].path])[0]
        font = ImageFont.truetype(path, 36, layout_engine=ImageFont.Layout.RAQM)
        left, top, right, bottom = d.textbbox((50, y), text, font=font)
        d.text((50, y), text, font=font, fill=(250, 250, 250))
        boxes.append(np.array([[left, top], [right, top], [right, bottom], [left, bottom]], dtype=float))
        y = bottom + 40
    return im, boxes


@pytest.mark.skipif(not HAVE_DETECTOR, reason="the peers extra (rapidocr) is not installed: make peers")
@pytest.mark.skipif(not features.check("raqm"), reason="Pillow has no RAQM to shape Indic and Urdu text")
def test_detector_finds_every_line_of_a_five_script_sign():
    from mstr.detect import Detection, load_detector

    image, truth = _sign()
    det = load_detector(threads=2)
    assert det.input_size(*image.size) == (768, 480)
    found = det.detect(image)
    assert found and all(isinstance(d, Detection) and len(d.polygon) == 4 and 0.5 <= d.score <= 1 for d in found)
    for (lang, _), box in zip(LINES, truth):
        best = max(quad_iou(box, np.array(d.polygon)) for d in found)
        assert best >= 0.5, f"the {lang} line was not found (best IoU {best:.2f})"
    largest = max(polygon_area(b) for b in truth)
    for d in found:  # no false positive, small or huge: every detection lies on a line
        assert polygon_area(np.array(d.polygon)) < 2 * largest
        assert max(quad_iou(b, np.array(d.polygon)) for b in truth) > 0.3
    tops = [d.bbox()[1] for d in found]
    assert tops == sorted(tops)  # reading order


def test_detector_missing_extra_or_model_is_one_line(monkeypatch, tmp_path):
    from mstr.detect import load_detector

    with pytest.raises(UserError, match="not found"):
        load_detector(tmp_path / "none.onnx")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "rapidocr" else real(n, *a))
    with pytest.raises(UserError) as err:
        load_detector()
    assert "make peers" in str(err.value) and "\n" not in str(err.value)

"""Whole-photo reading (mstr.photo): word splitting, rectification, reading order (RTL rows), the
end-to-end word score, and the shipped model on rendered multi-script signs (F reported)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image, ImageDraw, features

from mstr.detect import Detection
from mstr.eval.photo import WordScore, match_words
from mstr.photo import PhotoReading, PhotoWord, looks_like_word, read_photo, rectify, split_words
from mstr.reading.prediction import Prediction

HAVE_DETECTOR = importlib.util.find_spec("rapidocr") is not None


def _blocks(widths_gaps: list[int], h: int = 40) -> np.ndarray:
    """A gray line: dark blocks (letters) of the given widths separated by the given gaps."""
    g = np.full((h, 10 + sum(widths_gaps) + 10), 230, np.uint8)
    x, dark = 10, True
    for n in widths_gaps:
        if dark:
            g[10:30, x:x + n] = 20
        x, dark = x + n, not dark
    return g


def test_split_words_cuts_at_word_gaps_not_letter_gaps():
    # three words of letters 12 px wide, letter gaps 2-3 px, word gaps 9 and 11 px; ink band 20 px
    g = _blocks([12, 2, 12, 3, 12, 9, 12, 2, 12, 11, 12, 3, 12, 2, 12])
    boxes = split_words(g)
    assert [(b[0], b[2]) for b in boxes] == [(10, 51), (60, 86), (97, 138)]
    assert all(b[1] == 10 and b[3] == 30 for b in boxes)  # tightened to the ink rows
    # light text on a dark panel is found the same way
    assert split_words(255 - g) == boxes
    # one word: letter gaps only
    assert len(split_words(_blocks([12, 2, 12, 3, 12, 2, 12]))) == 1
    # no ink at all: the whole line
    assert split_words(np.full((20, 50), 128, np.uint8)) == [(0, 0, 50, 20)]


def test_rectify_straightens_a_turned_line():
    im = Image.new("RGB", (200, 200), "white")
    ImageDraw.Draw(im).polygon([(50, 100), (150, 60), (160, 85), (60, 125)], fill="black")
    quad = np.array([[50, 100], [150, 60], [160, 85], [60, 125]], float)
    line = np.asarray(rectify(im, quad).convert("L"))
    w, h = np.hypot(100, 40), np.hypot(10, 25)
    assert line.shape == (round(h), round(w))
    assert line[2:-2, 2:-2].mean() < 30  # all black inside: the quad was mapped onto the rectangle


def test_looks_like_word():
    assert looks_like_word(100, 32) and looks_like_word(2836, 704) and looks_like_word(600, 300)
    assert not looks_like_word(640, 480) and not looks_like_word(4000, 3000)


class _Det:
    """A detector stub: fixed line boxes."""

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, image):
        return [Detection(polygon=tuple(map(tuple, b)), score=0.9) for b in self.boxes]


class _Reader:
    """A reader stub: the n-th crop read gives texts[n]."""

    def __init__(self, texts, script):
        self.texts, self.script, self.calls = list(texts), script, 0

    def read(self, images, batch_size=64):
        self.calls += 1
        out = [Prediction(text=self.texts.pop(0), confidence=0.9, script=self.script) for _ in images]
        return out


def _line_image():
    """Two lines of three dark blocks each, the second line below the first."""
    im = Image.new("RGB", (400, 200), "white")
    d = ImageDraw.Draw(im)
    for y in (30, 120):
        for x in (40, 150, 260):
            d.rectangle([x, y, x + 80, y + 30], fill="black")
    boxes = [np.array([[30, y - 8], [350, y - 8], [350, y + 38], [30, y + 38]], float) for y in (120, 30)]
    return im, boxes


def test_read_photo_orders_lines_top_down_and_words_in_the_script_direction():
    im, boxes = _line_image()  # the detector gives the lower line first: read_photo reorders
    ltr = read_photo(_Reader(["d", "e", "f", "a", "b", "c"], "Latn"), im, detector=_Det(boxes))
    assert [w.text for w in ltr.words] == ["a", "b", "c", "d", "e", "f"]
    assert [w.line for w in ltr.words] == [0, 0, 0, 1, 1, 1]
    assert ltr.text() == "a b c\nd e f"
    x_left = [min(p[0] for p in w.polygon) for w in ltr.words[:3]]
    assert x_left == sorted(x_left) and abs(x_left[0] - 40) < 3  # polygons on the blocks
    # Arabic-script words: each line reads right to left
    arab = ["\u0628", "\u062a", "\u062b", "\u062c", "\u062d", "\u062e"]
    rtl = read_photo(_Reader(arab[3:] + arab[:3], "Arab"), im, detector=_Det(boxes))
    assert [w.text for w in rtl.words] == [arab[2], arab[1], arab[0], arab[5], arab[4], arab[3]]
    x_left = [min(p[0] for p in w.polygon) for w in rtl.words[:3]]
    assert x_left == sorted(x_left, reverse=True)


def test_read_photo_reads_a_vertical_line_in_the_likelier_direction():
    im = Image.new("RGB", (200, 300), "white")
    ImageDraw.Draw(im).rectangle([80, 40, 110, 260], fill="black")
    box = np.array([[70, 30], [120, 30], [120, 270], [70, 270]], float)

    class Turned(_Reader):
        def read(self, images, batch_size=64):  # the second turn (bottom to top) reads better
            return [Prediction("up" if i else "down", 0.9 if i else 0.2, "Latn") for i, _ in enumerate(images)]

    res = read_photo(Turned([], "Latn"), im, detector=_Det([box]))
    assert [w.text for w in res.words] == ["up"]
    assert isinstance(res, PhotoReading) and res.to_dict()["words"][0]["text"] == "up"


def test_match_words_needs_overlap_and_the_same_text():
    a = [[0, 0], [10, 0], [10, 5], [0, 5]]
    b = [[20, 0], [30, 0], [30, 5], [20, 5]]
    shifted = [[1, 0], [11, 0], [11, 5], [1, 5]]
    s = match_words([("cat", shifted), ("dog", b), ("owl", [[50, 50], [60, 50], [60, 55], [50, 55]])],
                    [("cat", a), ("bat", b)])
    assert (s.correct, s.found, s.true) == (1, 3, 2)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(0.5)
    assert s.f_score == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
    total = WordScore(1, 2, 3) + WordScore(1, 1, 1)  # 2 of 3 found are right, 2 of 4 true found
    assert total.f_score == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))
    # a word polygon in its own frame (corners starting elsewhere) matches the same box
    assert match_words([("cat", a[2:] + a[:2])], [("cat", a)]).correct == 1


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_DETECTOR, reason="the text detector (rapidocr wheel) is not installed: make setup")
@pytest.mark.skipif(not features.check("raqm"), reason="Pillow has no RAQM to shape Indic text")
def test_rendered_signs_end_to_end(capsys):
    """Two rendered signs (English, Hindi, Tamil): every word is found (detection + splitting),
    and the words read right make F >= 0.9 (tools/photo_signs.py measures more signs)."""
    import mstr
    from mstr.synth.signs import render_sign

    reader = mstr.load()
    total, boxes = WordScore(), WordScore()
    for seed in (3, 4):
        image, truth = render_sign(seed, ("en", "hi", "ta"))
        res = reader.read_photo(image)
        found = [(w.text, w.polygon) for w in res.words]
        total += match_words(found, [(t.text, t.polygon) for t in truth])
        boxes += match_words([("", p) for _, p in found], [("", t.polygon) for t in truth])
        tops = [min(p[1] for p in w.polygon) for w in res.words if w.line == 0]
        assert len(set(w.line for w in res.words)) >= 3
        assert tops and all(min(p[1] for p in w.polygon) >= min(tops) - 20 for w in res.words)
    with capsys.disabled():
        print(f"\nsigns en/hi/ta: P {total.precision:.3f} R {total.recall:.3f} F {total.f_score:.3f}; "
              f"boxes F {boxes.f_score:.3f}")
    assert boxes.f_score == 1.0
    assert total.f_score >= 0.9


def test_read_cli_photo_mode(monkeypatch, tmp_path, capsys):
    """mstr read: a photo-sized image is read as a photo (one line per word, polygon last), a word
    crop as a word, --word forces word reading, --overlay writes the overlay PNG."""
    import json

    from mstr.cli import main as cli_main

    class Stub:
        def __init__(self):
            self.photos, self.words = 0, 0

        def read(self, images, batch_size=64):
            self.words += len(images)
            return [Prediction(text="word", confidence=0.5, script="Latn") for _ in images]

        def read_photo(self, image):
            self.photos += 1
            return PhotoReading(image.width, image.height, [
                PhotoWord([(1, 2), (30, 2), (30, 12), (1, 12)], t, 0.9, "Latn", 0) for t in ("ab", "cd")])

    stub = Stub()
    monkeypatch.setattr(cli_main, "SUBCOMMAND_MODULES", ("mstr.cli.read",))
    monkeypatch.setattr("mstr.api.load", lambda *a, **k: stub)
    Image.new("RGB", (640, 480), "white").save(tmp_path / "photo.png")
    Image.new("RGB", (100, 32), "white").save(tmp_path / "word.png")
    assert cli_main.main(["read", str(tmp_path / "photo.png"), str(tmp_path / "word.png"),
                          "--overlay", str(tmp_path / "ov")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split("\t")[1] for ln in lines] == ["ab", "cd", "word"]
    assert lines[0].split("\t")[4:] == ["0", "1,2 30,2 30,12 1,12"]
    assert (tmp_path / "ov" / "photo.overlay.png").is_file() and (stub.photos, stub.words) == (1, 1)
    assert cli_main.main(["read", str(tmp_path / "photo.png"), "--word"]) == 0
    assert capsys.readouterr().out.split("\t")[1] == "word" and stub.photos == 1
    assert cli_main.main(["read", str(tmp_path / "word.png"), "--photo", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert [w["text"] for w in body["words"]] == ["ab", "cd"] and body["width"] == 100

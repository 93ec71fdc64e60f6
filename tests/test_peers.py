"""The peer engines (RapidOCR PP-OCRv6, EasyOCR english_g2) of ``mstr compare``: registration, the
one-line hint when the ``peers`` extra is missing, and readings of rendered words and of real crops
(run when the extra is installed: ``make peers``)."""
from __future__ import annotations

import glob
import importlib.util
import json
import sys

import pytest
from PIL import Image, ImageDraw, ImageFont

import mstr.cli.main as cli_main
from mstr.engines import ENGINE_NAMES, LATIN_PEERS, make_engine
from mstr.engines.compare import compare, format_comparison
from mstr.errors import UserError
from mstr.eval.samples import limit_samples, samples_from_manifest
from mstr.peers import INSTALL_HINT

HAVE_RAPIDOCR = importlib.util.find_spec("rapidocr") is not None
HAVE_EASYOCR = (importlib.util.find_spec("easyocr") is not None
                and importlib.util.find_spec("easyocr_en_models") is not None)
needs_rapidocr = pytest.mark.skipif(not HAVE_RAPIDOCR, reason="the peers extra (rapidocr) is not installed: make peers")
needs_easyocr = pytest.mark.skipif(not HAVE_EASYOCR, reason="the peers extra (easyocr) is not installed: make peers")
DEMO = "samples/demo"


def _font(size: int):
    paths = glob.glob("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf") + \
        glob.glob("/usr/share/fonts/**/NotoSans-Regular.ttf", recursive=True)
    return ImageFont.truetype(paths[0], size) if paths else ImageFont.load_default(size=size)


def _word(text: str, size: int = 32) -> Image.Image:
    font = _font(size)
    l, t, r, b = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), text, font=font)
    im = Image.new("RGB", (r - l + 16, b - t + 12), (245, 244, 238))
    ImageDraw.Draw(im).text((8 - l, 6 - t), text, fill=(20, 20, 30), font=font)
    return im


def test_peers_are_registered():
    assert {"rapidocr", "easyocr"} <= set(ENGINE_NAMES) and set(LATIN_PEERS) == {"rapidocr", "easyocr"}


@pytest.mark.parametrize("name,package", [("rapidocr", "rapidocr"), ("easyocr", "easyocr"),
                                          ("easyocr", "easyocr_en_models")])
def test_missing_extra_gives_the_install_line(monkeypatch, name, package):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == package else real(n, *a))
    with pytest.raises(UserError) as err:
        make_engine(name, threads=1)
    msg = str(err.value)
    assert "\n" not in msg and repr(package) in msg and INSTALL_HINT in msg and "--no-deps" in msg


def test_missing_extra_through_the_cli_is_one_line(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "rapidocr" else real(n, *a))
    code = cli_main.main(["compare", "--manifest", f"{DEMO}/manifest.jsonl", "--root", DEMO, "--engines", "rapidocr",
                          "--limit", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "make peers" in err and "Traceback" not in err


@needs_rapidocr
def test_rapidocr_reads_rendered_words():
    engine = make_engine("rapidocr", threads=2)
    words = ["STATION", "Platform", "2047"]
    preds = engine.read([_word(w) for w in words])
    assert [p.text.lower() for p in preds] == [w.lower() for w in words]
    assert all(0.5 < p.confidence <= 1.0 and p.error is None for p in preds)
    assert [p.script for p in preds[:2]] == ["Latn", "Latn"]
    # the same crop in a batch of different widths reads the same (padding on the right only)
    alone = engine.read([_word("Platform")])[0].text
    assert alone == preds[1].text


@needs_easyocr
def test_easyocr_reads_rendered_words_without_torchvision():
    engine = make_engine("easyocr", threads=2)
    words = ["STATION", "Platform", "2047"]
    preds = engine.read([_word(w) for w in words])
    assert [p.text.lower() for p in preds] == [w.lower() for w in words]
    assert all(0.0 < p.confidence <= 1.0 for p in preds)
    info = engine.info()
    if importlib.util.find_spec("torchvision") is None:
        assert info["torchvision_stand_in"] is True
    # the stand-in never outlives the import of EasyOCR's network module
    assert "torchvision" not in sys.modules or not getattr(sys.modules["torchvision"], "__version__", "").endswith(
        "mstr-stand-in")


def test_easyocr_contrast_stretch_only_touches_flat_crops():
    import numpy as np

    from mstr.engines.easyocr_en import adjust_contrast

    flat = np.full((8, 16), 100, dtype=np.uint8)
    flat[2:6, 4:12] = 130  # contrast (130 - 100) / (130 + 100) = 0.13, under the 0.5 target
    stretched = adjust_contrast(flat)
    assert int(stretched.max()) - int(stretched.min()) > 2 * 30
    sharp = np.zeros((8, 16), dtype=np.uint8)
    sharp[:, 8:] = 250
    assert (adjust_contrast(sharp) == sharp).all()


@pytest.mark.slow
@pytest.mark.skipif(not (HAVE_RAPIDOCR and HAVE_EASYOCR), reason="the peers extra is not installed: make peers")
def test_compare_rows_for_both_peers_on_real_crops(capsys, tmp_path):
    samples = samples_from_manifest(f"{DEMO}/manifest.jsonl", DEMO, langs=["en"])
    samples = limit_samples(samples, 8)
    engines = [make_engine("rapidocr", threads=2), make_engine("easyocr", threads=2)]
    result = compare(engines, samples, convention="en-benchmark", threads=2, progress=False, warmup=1)
    assert [r.name for r in result.runs] == ["rapidocr", "easyocr"]
    for run in result.runs:
        assert len(run.preds) == len(result.samples) == 8 and run.words_per_s > 0 and run.errors == 0
        assert run.table.combined.wrr >= 50.0  # real IIIT5K crops: both peers read most of them
    text = format_comparison(result)
    assert "| rapidocr | easyocr |" in text and "words/s" in text
    code = cli_main.main(["compare", "--manifest", f"{DEMO}/manifest.jsonl", "--root", DEMO, "--langs", "en",
                          "--convention", "en-benchmark", "--engines", "rapidocr", "--limit", "3",
                          "--out", str(tmp_path / "c")])
    assert code == 0
    report = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert report["engines"][0]["info"]["backend"] == "onnxruntime" and report["compared"] == 3

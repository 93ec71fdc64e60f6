"""Engines and ``mstr compare``: stub engines for exact numbers, tiny baseline bundles through the
command line, and the Tesseract adapter (run when Tesseract is installed)."""
from __future__ import annotations

import glob
import json
import shutil

import pytest
from conftest import png, tiny_bank, tiny_bundle
from PIL import Image, ImageDraw, ImageFont

import mstr.cli.main as cli_main
from mstr.bank import PAD_ID
from mstr.engines import Engine, make_engine
from mstr.baseline_bundle import save_baseline_bundle
from mstr.engines.compare import compare, format_comparison
from mstr.errors import UserError
from mstr.eval.samples import samples_from_manifest
from mstr.models.crnn import CRNN, CRNNConfig
from mstr.models.softmax_spotter import SoftmaxSpotter, SoftmaxSpotterConfig
from mstr.reading.prediction import Prediction

RED, GREEN, BLUE, GREY = (200, 0, 0), (0, 200, 0), (0, 0, 200), (90, 90, 90)


class ColourEngine(Engine):
    """Reads ``table[first pixel]``; records the languages it was told."""

    def __init__(self, name: str, table: dict) -> None:
        self.name, self.table, self.told = name, table, []

    def read(self, images, langs=None):
        self.told += list(langs or [])
        return [Prediction(text=self.table.get(im.getpixel((0, 0)), ""), confidence=0.5, script=None)
                for im in images]


@pytest.fixture
def data(tmp_path):
    """4 readable crops (en ×3, hi ×1) and one corrupt file."""
    root = tmp_path / "root"
    root.mkdir()
    rows = [("a.png", RED, "BMW", "en"), ("b.png", GREEN, "CAT", "en"), ("c.png", BLUE, "DOG", "en"),
            ("d.png", GREY, "कलम", "hi")]
    lines = []
    for name, colour, gt, lang in rows:
        (root / name).write_bytes(png(colour, (64, 24)))
        lines.append({"id": name, "path_rel": name, "filename": name, "gt_text": gt, "lang": lang, "dataset": "toy"})
    (root / "bad.png").write_bytes(b"not an image")
    lines.append({"id": "bad", "path_rel": "bad.png", "filename": "bad.png", "gt_text": "X", "lang": "en",
                  "dataset": "toy"})
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    return manifest, root


def test_compare_scores_times_and_skips_unreadable_for_all(data):
    manifest, root = data
    good = ColourEngine("good", {RED: "BMW", GREEN: "CAT", BLUE: "DOG", GREY: "कलम"})
    poor = ColourEngine("poor", {RED: "BMW", GREEN: "CAX"})
    result = compare([good, poor], samples_from_manifest(manifest, root), batch_size=2, warmup=1, progress=False)
    assert len(result.samples) == 4 and [u["id"] for u in result.unreadable] == ["bad"]
    g, p = result.runs
    assert g.table.combined.wrr == 100.0 and p.table.combined.wrr == 25.0
    # poor: CAX (1 edit), "" for DOG (3) and कलम (3 code points): CRR over 12 label code points
    assert p.table.combined.crr == pytest.approx(100 * (1 - 7 / 12))
    assert g.seconds > 0 and g.words_per_s > 0 and g.ms_per_word > 0
    assert good.told[1:] == ["en", "en", "en", "hi"]  # warm-up on the first crop, then every crop's language
    text = format_comparison(result)
    assert "| Metric | Dataset | Lang | # samples | good | poor |" in text
    assert "| WRR | toy | hi | 1 | 100.00 | 0.00 |" in text
    assert "| WRR | **Combined** | all | 4 | 100.00 | 25.00 |" in text
    assert "| words/s |" in text and "| ms/word |" in text
    rows = result.prediction_rows()
    assert rows[1]["engines"]["poor"]["pred"] == "CAX" and rows[1]["engines"]["good"]["correct"]
    with pytest.raises(UserError, match="once"):
        compare([good, good], samples_from_manifest(manifest, root), progress=False)


@pytest.fixture
def tiny_bundles(tmp_path):
    bank = tiny_bank(dim=16)
    crnn = CRNN(CRNNConfig(num_classes=len(bank) + 1, widths=(8, 8, 16, 16), hidden=16, rnn_layers=1))
    soft = SoftmaxSpotter(SoftmaxSpotterConfig(num_classes=len(bank), d_model=32, widths=(8, 8, 16, 16), max_len=8,
                                               dec_layers=1, heads=2), PAD_ID)
    return (save_baseline_bundle(tmp_path / "crnn", model=crnn, bank=bank),
            save_baseline_bundle(tmp_path / "softmax", model=soft, bank=bank),
            tiny_bundle(tmp_path / "mstr", bank=bank, seed=None, max_len=8, refiner=False, name="toy"))


def test_compare_cli_two_tiny_engines(data, tiny_bundles, tmp_path, capsys):
    manifest, root = data
    crnn, soft, spot = tiny_bundles
    out = tmp_path / "out"
    code = cli_main.main(["compare", "--manifest", str(manifest), "--root", str(root), "--engines",
                          "mstr,crnn,softmax", "--bundle", str(spot), "--crnn", str(crnn), "--softmax", str(soft),
                          "--threads", "1", "--out", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    assert "| Metric | Dataset | Lang | # samples | mstr | crnn | softmax |" in captured.out
    assert "| CRR | **Combined** | all | 4 |" in captured.out
    assert "bad.png" in captured.err and "skipped for every engine" in captured.err
    report = json.loads((out / "compare.json").read_text())
    assert [e["name"] for e in report["engines"]] == ["mstr", "crnn", "softmax"]
    assert report["engines"][0]["info"]["model"] == "toy"
    assert report["compared"] == 4 and report["unreadable_count"] == 1 and report["settings"]["threads"] == 1
    assert all(e["words_per_s"] > 0 and e["table"]["combined"]["n"] == 4 for e in report["engines"])
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 4
    assert (out / "compare.md").read_text().startswith("| Metric")


def test_compare_bf16_reaches_the_mstr_engines_only(data, tiny_bundles, tmp_path, capsys):
    manifest, root = data
    crnn, _, spot = tiny_bundles
    out = tmp_path / "out"
    assert cli_main.main(["compare", "--manifest", str(manifest), "--root", str(root), "--engines",
                          "mstr,mstr-spotter,crnn", "--bundle", str(spot), "--crnn", str(crnn), "--bf16",
                          "--out", str(out)]) == 0
    capsys.readouterr()
    report = json.loads((out / "compare.json").read_text())
    assert report["settings"]["precision"] == "bf16"
    info = {e["name"]: e["info"] for e in report["engines"]}
    assert info["mstr"]["bf16"] is True and info["mstr-spotter"]["bf16"] is True and "bf16" not in info["crnn"]
    assert all(e["table"]["combined"]["n"] == 4 for e in report["engines"])
    # the opt-out: --precision fp32 reads the mSTR engines in float32, and the report says so
    assert cli_main.main(["compare", "--manifest", str(manifest), "--root", str(root), "--engines", "mstr",
                          "--bundle", str(spot), "--precision", "fp32", "--out", str(tmp_path / "fp32")]) == 0
    capsys.readouterr()
    report = json.loads((tmp_path / "fp32" / "compare.json").read_text())
    assert report["settings"]["precision"] == "fp32" and report["engines"][0]["info"]["bf16"] is False


@pytest.mark.slow
def test_compare_workers_read_as_one_process(data, tiny_bundles, tmp_path, capsys):
    """--workers 2: the torch engines (mSTR and a baseline) read with two processes sharing the
    threads; the readings are those of one process, the setting is reported, Tesseract untouched."""
    manifest, root = data
    crnn, _, spot = tiny_bundles
    rows = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        assert cli_main.main(["compare", "--manifest", str(manifest), "--root", str(root), "--engines", "mstr,crnn",
                              "--bundle", str(spot), "--crnn", str(crnn), "--threads", "2", "--workers", workers,
                              "--batch-size", "3", "--out", str(out)]) == 0
        report = json.loads((out / "compare.json").read_text())
        assert report["settings"]["workers"] == int(workers)
        assert all(e["info"]["workers"] == int(workers) for e in report["engines"])
        rows[workers] = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    capsys.readouterr()
    assert len(rows["2"]) == len(rows["1"]) == 4
    for one, two in zip(rows["1"], rows["2"]):
        for engine in ("mstr", "crnn"):
            assert two["engines"][engine]["pred"] == one["engines"][engine]["pred"]
            assert two["engines"][engine]["confidence"] == pytest.approx(one["engines"][engine]["confidence"],
                                                                         rel=1e-3, abs=1e-6)
    assert cli_main.main(["compare", "--manifest", str(manifest), "--root", str(root), "--engines", "crnn",
                          "--crnn", str(crnn), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_missing_and_unknown_engines(data, tiny_bundles, capsys):
    manifest, root = data
    base = ["compare", "--manifest", str(manifest), "--root", str(root)]
    assert cli_main.main(base + ["--engines", "crnn,foo"]) == 2
    assert "unknown engine(s) 'foo'" in capsys.readouterr().err
    assert cli_main.main(base + ["--engines", "crnn"]) == 2
    assert "needs a bundle: give --crnn" in capsys.readouterr().err
    assert cli_main.main(base) == 2  # no engine named, no bundle given
    assert "--engines" in capsys.readouterr().err
    crnn, soft, spot = tiny_bundles
    assert cli_main.main(base + ["--engines", "softmax", "--softmax", str(crnn)]) == 2  # a CRNN given as softmax
    assert "holds a crnn baseline" in capsys.readouterr().err
    assert cli_main.main(base + ["--engines", "crnn", "--crnn", str(spot)]) == 2  # an mSTR bundle as a baseline
    assert "an mSTR bundle" in capsys.readouterr().err
    with pytest.raises(UserError, match="unknown engine"):
        make_engine("abbyy")


# -- Tesseract ---------------------------------------------------------------------------------


def test_tesseract_tsv_parsing_and_missing_installation(monkeypatch):
    from mstr.engines import tesseract as tess

    tsv = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
           "1\t1\t0\t0\t0\t0\t0\t0\t9\t9\t-1\t\n"
           "5\t1\t1\t1\t1\t1\t0\t0\t9\t9\t91.5\tWOR\n"
           "5\t1\t1\t1\t1\t2\t0\t0\t9\t9\t40.0\tLD\n"
           "1\t2\t0\t0\t0\t0\t0\t0\t9\t9\t-1\t\n"
           "5\t3\t1\t1\t1\t1\t0\t0\t9\t9\t88.0\tनमस्ते\n")
    pages = tess.parse_tsv(tsv, 3)
    assert pages == [[("WOR", 91.5), ("LD", 40.0)], [], [("नमस्ते", 88.0)]]
    p = tess._prediction(pages[0])
    assert p.text == "WORLD" and p.confidence == pytest.approx(0.4) and p.script == "Latn"
    assert tess._prediction([]).text == "" and tess._prediction(pages[2]).script == "Deva"
    with pytest.raises(UserError, match="tesseract-ocr tesseract-ocr-eng tesseract-ocr-hin"):
        tess.TesseractEngine(["en", "hi"], binary="no-such-tesseract-binary")
    with pytest.raises(UserError, match="no language pack mapped"):
        tess.TesseractEngine(["xx"])
    if shutil.which("tesseract"):
        monkeypatch.setattr(tess, "installed_packs", lambda binary="tesseract": {"eng", "osd"})
        with pytest.raises(UserError, match="apt-get install tesseract-ocr-tam"):
            tess.TesseractEngine(["en", "ta"])


def _latin_font(size: int):
    paths = glob.glob("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf") + \
        glob.glob("/usr/share/fonts/**/NotoSans-Regular.ttf", recursive=True)
    return ImageFont.truetype(paths[0], size) if paths else ImageFont.load_default(size=size)


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_tesseract_reads_clean_words():
    from mstr.engines.tesseract import PACKS, TesseractEngine, installed_packs

    if "eng" not in installed_packs():
        pytest.skip("Tesseract's English pack (tesseract-ocr-eng) is not installed")
    words = ["HELLO", "Signal"]
    images = []
    for w in words:
        im = Image.new("RGB", (220, 40), (250, 250, 245))
        ImageDraw.Draw(im).text((8, 2), w, fill=(10, 10, 10), font=_latin_font(30))
        images.append(im)
    engine = make_engine("tesseract", tesseract_langs=["en"], threads=2)
    assert isinstance(engine, TesseractEngine) and engine.union == "eng"
    preds = engine.read(images, ["en", None])
    assert [p.text for p in preds] == words
    assert all(0.0 < p.confidence <= 1.0 and p.script == "Latn" and p.error is None for p in preds)
    have = installed_packs()
    if {"eng", "hin"} <= have:
        both = TesseractEngine(["en", "hi"], mode="given")
        assert both.pack_for("hi") == "hin" and both.pack_for("unknown") == "eng+hin"
        assert TesseractEngine(["en", "hi"], mode="union").pack_for("hi") == "eng+hin"
    assert PACKS["ml"] == "mal" and PACKS["kn"] == "kan"

"""Word evaluation (mstr.eval.words), the failure gallery and ``mstr eval --bundle``.

No model is loaded: a stub recognizer reads a word from the colour of the image's first pixel.
"""
from __future__ import annotations

import json

import pytest
from conftest import png
from PIL import Image

import mstr.cli.main as cli_main
from mstr.data.lmdb import LmdbWriter
from mstr.errors import UserError
from mstr.eval.gallery import clusters, diff_html, write_gallery
from mstr.eval.samples import (EvalSample, limit_samples, rotate_image, samples_from_lmdb,
                               samples_from_manifest)
from mstr.eval.words import evaluate
from mstr.reading.prediction import Prediction

DEVA_QA = "\u0958"  # क़, NFKD क + ़


class StubRecognizer:
    """Reads ``table[first pixel colour]``: (text, confidence, script)."""

    name = "stub"
    config: dict = {}

    def __init__(self, table: dict, langs=("en", "hi")) -> None:
        self.table = table
        self.langs = list(langs)
        self.calls: list[int] = []

    def read(self, images, batch_size=64):
        self.calls.append(len(images))
        out = []
        for image in images:
            assert image.mode == "RGB"
            text, conf, script = self.table.get(image.getpixel((0, 0)), ("", 0.0, None))
            out.append(Prediction(text=text, confidence=conf, script=script))
        return out


class SizeRecognizer:
    """Reads the image size as ``WxH`` (to see rotations)."""

    name = "size"
    langs = ["en"]

    def read(self, images, batch_size=64):
        return [Prediction(text=f"{im.width}x{im.height}", confidence=1.0, script="Latn")
                for im in images]


RED, GREEN, BLUE, GREY, WHITE = (200, 0, 0), (0, 200, 0), (0, 0, 200), (90, 90, 90), (250, 250, 250)

STUB_TABLE = {
    RED: ("BMW", 0.9, "Latn"),         # right
    GREEN: ("BNW", 0.8, "Latn"),       # one substitution
    BLUE: ("कलम", 0.6, "Deva"),         # the nukta is missing
    GREY: ("x", 0.95, "Latn"),         # wrong, and the most confident failure
}


@pytest.fixture
def manifest_data(tmp_path):
    """root/ with 5 images (one garbage, one empty), a manifest with a bad line and an escape."""
    root = tmp_path / "root"
    (root / "en").mkdir(parents=True)
    (root / "hi").mkdir()
    (root / "en" / "a.png").write_bytes(png(RED))
    (root / "en" / "b.png").write_bytes(png(GREEN))
    (root / "en" / "bad.png").write_bytes(b"this is not an image at all")
    (root / "en" / "empty.png").write_bytes(b"")
    (root / "hi" / "c.png").write_bytes(png(BLUE))
    (tmp_path / "outside.png").write_bytes(png(RED))

    def line(path_rel, gt, lang, dataset):
        return json.dumps({"id": "0" * 40, "path_rel": path_rel, "filename": path_rel.split("/")[-1],
                           "gt_text": gt, "lang": lang, "dataset": dataset}, ensure_ascii=False)

    lines = [
        line("en/a.png", "BMW", "en", "signs"),
        line("en/b.png", "B M W", "en", "signs"),  # whitespace is ignored → "BMW"
        "{not json",                                # line 3
        line("../outside.png", "BMW", "en", "signs"),  # line 4: escapes the root
        line("en/bad.png", "XYZ", "en", "signs"),
        line("en/empty.png", "XYZ", "en", "signs"),
        line("hi/c.png", DEVA_QA + "लम", "hi", "shops"),
        line("en/missing.png", "XYZ", "en", "signs"),  # line 8: no such file
    ]
    manifest = tmp_path / "test.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest, root


def test_evaluate_manifest_reports_bad_entries_and_scores_the_rest(manifest_data):
    manifest, root = manifest_data
    samples = samples_from_manifest(manifest, root)
    assert samples.problem_counts == {"invalid_json": 1, "unsafe_path": 1, "missing_file": 1}
    assert sorted(p["line"] for p in samples.problems) == [3, 4, 8]
    assert len(samples) == 5

    stub = StubRecognizer(STUB_TABLE)
    result = evaluate(stub, samples, batch_size=2, progress=False)
    assert stub.calls == [2, 1]  # batch 1: a, b; batch 2: bad, empty (unreadable), c
    unreadable = {u["source"].split("/")[-1]: u["reason"] for u in result.unreadable}
    assert set(unreadable) == {"bad.png", "empty.png"}
    assert "not a recognised image format" in unreadable["bad.png"]
    assert "empty" in unreadable["empty.png"]
    assert [r.sample.id for r in result.records] == ["0" * 40] * 3
    # scored: a (exact), b (ED 1 of 3), c (ED 1 of 4: क़लम is 4 code points after NFKD)
    combined = result.table.combined
    assert combined.n == 3
    assert combined.wrr == pytest.approx(100 / 3)
    assert combined.crr == pytest.approx(100 * (1 - 2 / 10))  # ΣED 2, Σlen(gt) 3+3+4
    assert combined.one_minus_ned == pytest.approx(100 * (1 + 2 / 3 + 3 / 4) / 3)
    assert combined.script_id == pytest.approx(100.0)
    assert combined.confidence == pytest.approx((0.9 + 0.8 + 0.6) / 3)
    assert [(r.dataset, r.lang, r.n) for r in result.table.rows] == [("shops", "hi", 1),
                                                                     ("signs", "en", 2)]
    # macro over en (WRR 50) and hi (WRR 0)
    assert result.table.macro.wrr == pytest.approx(25.0)

    report = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert report["unreadable_count"] == 2
    assert report["problem_counts"] == {"invalid_json": 1, "missing_file": 1, "unsafe_path": 1}
    summary = "\n".join(result.summary_lines())
    assert "test.jsonl:3:" in summary and "test.jsonl:4:" in summary and "bad.png" in summary
    record = result.records[2].to_dict()
    assert record["gt"] == "\u0915\u093cलम" and record["pred"] == "कलम"
    assert record["ed"] == 1 and record["correct"] is False and record["script_ok"] is True


def test_evaluate_langs_filter_and_max_samples(manifest_data):
    manifest, root = manifest_data
    only_hi = samples_from_manifest(manifest, root, langs=["hi"])
    assert [s.lang for s in only_hi.samples] == ["hi"]
    samples = samples_from_manifest(manifest, root)
    picked = limit_samples(samples, 2)
    assert len(picked) == 2 and picked.problems == samples.problems
    assert [s.source.split("/")[-1] for s in picked.samples] == ["a.png", "bad.png"]
    assert limit_samples(samples, None) is samples


def test_en_benchmark_convention_and_empty_labels(tmp_path):
    (tmp_path / "a.png").write_bytes(png(RED))
    samples = [EvalSample(id="1", source="a", dataset="d", lang="en", gt="bmw!",
                          path=tmp_path / "a.png"),
               EvalSample(id="2", source="b", dataset="d", lang="en", gt="!!!",
                          path=tmp_path / "a.png")]
    stub = StubRecognizer(STUB_TABLE)
    default = evaluate(stub, samples, progress=False)
    assert default.table.combined.wrr == 0.0 and default.table.combined.n == 2
    bench = evaluate(stub, samples, convention="en-benchmark", progress=False)
    assert bench.table.combined.n == 1 and bench.table.combined.wrr == 100.0
    assert [p["reason"] for p in bench.problems] == ["empty_after_convention"]
    with pytest.raises(UserError, match="convention"):
        evaluate(stub, samples, convention="latin", progress=False)
    with pytest.raises(UserError, match="rotation"):
        evaluate(stub, samples, rotation=45, progress=False)


def test_lmdb_input_with_lang_keys(tmp_path):
    lmdb_dir = tmp_path / "data" / "LMDB" / "hi" / "test_lmdb"
    with LmdbWriter(lmdb_dir) as writer:
        writer.add(png(BLUE), DEVA_QA + "लम", lang="hi")
        writer.add(png(RED), "BMW", lang="en")  # a mixed LMDB: the lang key wins
        writer.add(b"garbage", "ABC", lang="en")
        writer.add(png(GREEN), "  ", lang="en")  # empty after normalisation: skipped
        writer.add(png(GREEN), "BMW")  # no lang key: the folder says hi
    samples = samples_from_lmdb(tmp_path / "data")
    assert [(s.dataset, s.lang, s.id) for s in samples.samples] == [
        ("test_lmdb", "hi", "image-000000001"), ("test_lmdb", "en", "image-000000002"),
        ("test_lmdb", "en", "image-000000003"), ("test_lmdb", "hi", "image-000000005")]
    assert samples.problem_counts == {"empty_label": 1}
    assert samples.problems[0]["key"] == "label-000000004"

    result = evaluate(StubRecognizer(STUB_TABLE), samples, progress=False)
    assert [u["id"] for u in result.unreadable] == ["image-000000003"]
    assert [(r.dataset, r.lang, r.n) for r in result.table.rows] == [("test_lmdb", "en", 1),
                                                                     ("test_lmdb", "hi", 2)]
    # hi: क़लम→कलम (ED 1, script Deva ok) and BMW→BNW (ED 1, script Latn ≠ Deva)
    hi = result.table.rows[1]
    assert hi.wrr == 0.0 and hi.crr == pytest.approx(100 * (1 - 2 / 7))
    assert hi.script_id == pytest.approx(50.0)
    assert result.table.rows[0].wrr == 100.0

    only_en = samples_from_lmdb(lmdb_dir, ["en"])
    assert [s.id for s in only_en.samples] == ["image-000000002", "image-000000003"]


def test_lmdb_without_lang_keys_takes_the_single_lang(tmp_path):
    lmdb_dir = tmp_path / "CUTE80"
    with LmdbWriter(lmdb_dir) as writer:
        writer.add(png(RED), "BMW")
    assert [s.lang for s in samples_from_lmdb(lmdb_dir).samples] == ["unknown"]
    samples = samples_from_lmdb(lmdb_dir, ["en"])
    assert [(s.dataset, s.lang) for s in samples.samples] == [("CUTE80", "en")]
    result = evaluate(StubRecognizer(STUB_TABLE), samples, progress=False)
    assert result.table.combined.script_id == 100.0


def test_rotation_rotates_counter_clockwise(tmp_path):
    image = Image.new("RGB", (2, 1))
    image.putpixel((0, 0), RED)
    image.putpixel((1, 0), BLUE)
    turned = rotate_image(image, 90)
    # counter-clockwise: the right end goes to the top
    assert turned.size == (1, 2)
    assert turned.getpixel((0, 0)) == BLUE and turned.getpixel((0, 1)) == RED
    assert rotate_image(image, 270).getpixel((0, 0)) == RED
    assert rotate_image(image, 180).getpixel((0, 0)) == BLUE
    assert rotate_image(image, 0) is image

    (tmp_path / "w.png").write_bytes(png(RED, (40, 12)))
    sample = EvalSample(id="1", source="w", dataset="d", lang="en", gt="40x12",
                        path=tmp_path / "w.png")
    for rotation, read in ((0, "40x12"), (90, "12x40"), (180, "40x12"), (270, "12x40")):
        result = evaluate(SizeRecognizer(), [sample], rotation=rotation, progress=False)
        assert result.records[0].pred_text == read
        assert result.rotation == rotation


def test_gallery_is_escaped_sorted_and_self_contained(tmp_path):
    for name, colour in (("a", RED), ("b", GREEN), ("c", BLUE), ("g", GREY)):
        (tmp_path / f"{name}.png").write_bytes(png(colour))
    samples = [
        EvalSample(id="a", source="a", dataset="d", lang="en", gt="BMW", path=tmp_path / "a.png"),
        EvalSample(id="b", source="b", dataset="d", lang="en", gt="BMW", path=tmp_path / "b.png"),
        EvalSample(id="c", source="c", dataset="d<x>", lang="hi", gt=DEVA_QA + "लम",
                   path=tmp_path / "c.png"),
        EvalSample(id="g", source="g", dataset="d", lang="en", gt="<b>&amp;\"",
                   path=tmp_path / "g.png"),
    ]
    result = evaluate(StubRecognizer(STUB_TABLE), samples, progress=False)
    out = tmp_path / "gallery" / "g.html"
    assert write_gallery(result, out) == 3
    page = out.read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in page
    assert "&lt;b&gt;&amp;amp;&quot;" in page and "<b>&amp;\"" not in page
    assert "d&lt;x&gt;" in page and "d<x>" not in page
    assert page.count("data:image/png;base64,") == 3
    # English first; inside it the most confident failure (0.95) before 0.8
    assert page.index("conf 0.950") < page.index("conf 0.800") < page.index("conf 0.600")
    assert page.index('id="lang-en"') < page.index('id="lang-hi"')
    assert write_gallery(result, tmp_path / "one.html", max_items=1) == 1
    assert (tmp_path / "one.html").read_text(encoding="utf-8").count("base64,") == 1


def test_clusters_and_diff():
    assert clusters("कलम") == ["क", "ल", "म"]
    assert clusters("\u0915\u093cलम") == ["\u0915\u093c", "ल", "म"]
    assert clusters("क्ष") == ["क्ष"]  # virama joins the conjunct
    gt, pred = diff_html("BMW", "BNW")
    assert gt == 'B<mark class="gt" title="U+004D">M</mark>W'
    assert pred == 'B<mark class="pr" title="U+004E">N</mark>W'
    gt, pred = diff_html("a<b", "a")
    assert gt == 'a<mark class="gt" title="U+003C U+0062">&lt;b</mark>' and pred == "a"


# --------------------------------------------------------------------------------------------
# mstr eval --bundle


@pytest.fixture
def eval_cli(monkeypatch):
    monkeypatch.setattr(cli_main, "SUBCOMMAND_MODULES", ("mstr.cli.eval",))
    calls = []

    def fake_load(path=None, *, refiner=True, device="cpu", **kwargs):
        calls.append({"path": path, "refiner": refiner, "device": device})
        LOAD_KWARGS.clear()
        LOAD_KWARGS.update(kwargs)
        return StubRecognizer(STUB_TABLE)

    monkeypatch.setattr("mstr.api.load", fake_load)
    return calls


LOAD_KWARGS: dict = {}


def test_eval_cli_writes_report_predictions_and_gallery(manifest_data, tmp_path, eval_cli, capsys):
    manifest, root = manifest_data
    out = tmp_path / "eval"
    argv = ["eval", "--bundle", str(tmp_path / "bundle"), "--manifest", str(manifest), "--root",
            str(root), "--out", str(out), "--no-refiner", "--batch-size", "2"]
    assert cli_main.main(argv) == 0
    assert eval_cli == [{"path": tmp_path / "bundle", "refiner": False, "device": "cpu"}]
    captured = capsys.readouterr()
    assert "| Dataset | Lang | # samples |" in captured.out
    # ECE: 0.9 right (|1 − 0.9|) and 0.8 wrong (0.8) in two bins → (0.1 + 0.8) / 2
    assert "| signs | en | 2 | 50.00 | 83.33 | 83.33 | 0.85 | 45.00 | 3.00 | 100.00 |" in captured.out
    assert "| **Combined** | all | 3 | 33.33 | 80.00 | 80.56 |" in captured.out
    assert "bad.png" in captured.err and "test.jsonl:4:" in captured.err

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["unreadable_count"] == 2
    assert report["problem_counts"] == {"invalid_json": 1, "missing_file": 1, "unsafe_path": 1}
    assert report["table"]["combined"]["n"] == 3
    assert report["command"].startswith("mstr eval --bundle ")
    assert "--no-refiner" in report["command"] and report["refiner"] is False
    lines = (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["pred"] for r in records] == ["BMW", "BNW", "कलम"]
    assert [r["correct"] for r in records] == [True, False, False]
    page = (out / "gallery.html").read_text(encoding="utf-8")
    assert "\u0915\u093c" in page  # the failing Hindi label, shown in NFKD
    assert 'B<mark class="gt" title="U+004D">M</mark>W' in page  # BMW read as BNW
    assert page.count("base64,") == 2  # b.png and c.png failed
    assert "Unreadable images (not scored): 2" in page and "bad.png" in page


def test_eval_cli_escapes_gt_in_gallery_and_json_output(tmp_path, eval_cli, capsys):
    root = tmp_path / "root"
    root.mkdir()
    (root / "g.png").write_bytes(png(GREY))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "1", "path_rel": "g.png", "filename": "g.png",
                                    "gt_text": "<script>x</script>", "lang": "en",
                                    "dataset": "d"}) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert cli_main.main(["eval", "--bundle", "b", "--manifest", str(manifest), "--root",
                          str(root), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["table"]["combined"]["wrr"] == 0.0
    page = (out / "gallery.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;" in page and "<script>x" not in page


def test_eval_cli_on_lmdb(tmp_path, eval_cli, capsys):
    with LmdbWriter(tmp_path / "LMDB" / "en" / "test_lmdb") as writer:
        writer.add(png(RED), "bmw!")
    argv = ["eval", "--bundle", "b", "--lmdb", str(tmp_path), "--convention", "en-benchmark"]
    assert cli_main.main(argv) == 0
    assert "| test_lmdb | en | 1 | 100.00 | 100.00 | 100.00 |" in capsys.readouterr().out


def test_eval_cli_workers_and_refine_options_reach_load(tmp_path, eval_cli, capsys):
    with LmdbWriter(tmp_path / "LMDB" / "en" / "test_lmdb") as writer:
        writer.add(png(RED), "bmw!")
    out = tmp_path / "out"
    argv = ["eval", "--bundle", "b", "--lmdb", str(tmp_path), "--workers", "2", "--refine-ratio", "off",
            "--refine-mode", "greedy", "--out", str(out)]
    assert cli_main.main(argv) == 0
    assert LOAD_KWARGS["workers"] == 2 and LOAD_KWARGS["refine_ratio"] is None
    assert LOAD_KWARGS["refine_mode"] == "greedy"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert "--workers 2" in report["command"] and "--refine-ratio off" in report["command"]
    assert report["refine"]["ratio"] is None
    capsys.readouterr()
    assert cli_main.main(["eval", "--bundle", "b", "--lmdb", str(tmp_path), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_eval_cli_errors(tmp_path, eval_cli, capsys):
    assert cli_main.main(["eval"]) == 2
    assert "--bundle" in capsys.readouterr().err
    assert cli_main.main(["eval", "--bundle", "b"]) == 2
    assert "--manifest" in capsys.readouterr().err
    assert cli_main.main(["eval", "--bundle", "b", "--manifest", "m.jsonl"]) == 2
    assert "--root" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("{bad\n", encoding="utf-8")
    assert cli_main.main(["eval", "--bundle", "b", "--manifest", str(empty), "--root",
                          str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no sample to evaluate" in err and "invalid_json" in err
    assert eval_cli == []  # no model loaded for bad input


def test_eval_help_and_mclip_stage_still_parse(eval_cli, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["eval", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "WRR" in text and "1-NED" in text and "Script-ID" in text and "mclip" in text
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["eval", "mclip", "--help"])
    assert exit_info.value.code == 0
    assert "--mclip" in capsys.readouterr().out
    args = cli_main.build_parser().parse_args(
        ["eval", "mclip", "--mclip", "m", "--bank", "b", "--data", "d"])
    assert args.eval_stage == "mclip" and args.batch_size == 512 and args.device == "auto"
    assert args.func.__name__ == "_run_mclip"
    args = cli_main.build_parser().parse_args(["eval", "--bundle", "b", "--lmdb", "x"])
    assert args.eval_stage is None and args.func.__name__ == "_run_words"

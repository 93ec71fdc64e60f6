"""``mstr data`` commands and the inspection report behind ``mstr data inspect``."""
from __future__ import annotations

import json

import pytest
from conftest import png
from PIL import Image

import mstr.cli.main as cli_main
from mstr.data.inspect import format_report, inspect_lmdb
from mstr.data.lmdb import find_lmdbs
from mstr.data.lmdb import LmdbWriter
from mstr.errors import UserError

TAMIL = "கொடி"  # 4 code points, 5 after NFKD


@pytest.fixture(autouse=True)
def only_data_command(monkeypatch):
    """Test ``mstr data`` on its own, whatever other subcommands exist."""
    monkeypatch.setattr(cli_main, "SUBCOMMAND_MODULES", ("mstr.cli.data",))


@pytest.fixture
def data_root(tmp_path):
    """data/LMDB/{en/train, en/val, ta/train}_lmdb in the DTRB layout (no lang keys)."""
    root = tmp_path / "data"
    samples = {
        ("en", "train"): ["Road", "STOP", "café"],  # é -> e + U+0301, not in the en charset
        ("en", "val"): ["Ex€"],  # € is outside the English charset
        ("ta", "train"): [TAMIL, "abc"],  # Latin letters are outside the Tamil charset
    }
    for (lang, split), labels in samples.items():
        with LmdbWriter(root / "LMDB" / lang / f"{split}_lmdb") as writer:
            for i, label in enumerate(labels):
                writer.add(png(30 * i), label)
    return root


def test_find_lmdbs_layouts(data_root):
    found = find_lmdbs(data_root)
    assert [(loc.lang, loc.split) for loc in found] == [("en", "train"), ("en", "val"),
                                                        ("ta", "train")]
    assert [loc.lang for loc in find_lmdbs(data_root / "LMDB")] == ["en", "en", "ta"]
    single = find_lmdbs(data_root / "LMDB" / "ta" / "train_lmdb")
    assert [(loc.lang, loc.split) for loc in single] == [("ta", "train")]
    assert [loc.lang for loc in find_lmdbs(data_root, ["ta"])] == ["ta"]
    in_lang_folder = find_lmdbs(data_root / "LMDB" / "en")
    assert [(loc.lang, loc.split) for loc in in_lang_folder] == [("en", "train"), ("en", "val")]
    (data_root / "empty").mkdir()
    with pytest.raises(UserError, match="no LMDB found"):
        find_lmdbs(data_root / "empty")


def test_inspect_report(data_root, tmp_path):
    report = inspect_lmdb(data_root, grid=tmp_path / "g" / "grid.png", n_grid=4)
    assert report["total"] == 6
    assert report["counts"] == {"en": {"train": 3, "val": 1}, "ta": {"train": 2}}
    en, ta = report["coverage"]["en"], report["coverage"]["ta"]
    assert (en["labels"], en["covered"]) == (4, 2)
    assert sorted(en["missing"]) == [["\u0301", "U+0301", 1], ["€", "U+20AC", 1]]
    assert (ta["labels"], ta["covered"], ta["share"]) == (2, 1, 0.5)
    assert {ch for ch, _, _ in ta["missing"]} == {"a", "b", "c"}
    assert report["length_hist"]["ta"] == {3: 1, 5: 1}
    assert report["length_hist"]["en"] == {3: 1, 4: 2, 5: 1}  # café is 5 code points in NFKD
    grid = Image.open(report["grid"])
    assert grid.format == "PNG" and grid.width > 0
    sidecar = (tmp_path / "g" / "grid.txt").read_text(encoding="utf-8")
    assert len(sidecar.splitlines()) == 5  # header + 4 cells
    text = format_report(report)
    assert "en: 4 (train=3, val=1)" in text and "ta: 2 (train=2)" in text
    assert "U+20AC" in text and "50.00%" in text and "50.00% (2/4)" in text


def test_cli_inspect_prints_counts_and_writes_grid(data_root, tmp_path, capsys):
    out = tmp_path / "report"
    assert cli_main.main(["data", "inspect", str(data_root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "6 samples" in printed and "en: 4 (train=3, val=1)" in printed
    assert Image.open(out / "grid.png").format == "PNG"
    assert TAMIL in (out / "grid.txt").read_text(encoding="utf-8")
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["total"] == 6


def test_cli_inspect_langs_and_json(data_root, capsys):
    assert cli_main.main(["data", "inspect", str(data_root), "--langs", "ta", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"ta": {"train": 2}} and report["grid"] is None


@pytest.mark.parametrize("argv", [
    ["data", "inspect", "/definitely/not/here"],
    ["data", "gt2lmdb", "/no/gt.txt", "--images", "/no", "--out", "/tmp/never_lmdb"],
    ["data", "lmdb2manifest", "/no/lmdb", "--out", "/tmp/never_out", "--dataset", "d"],
    ["data", "inspect", ".", "--langs", "klingon"],
])
def test_cli_errors_exit_2_without_traceback(argv, capsys):
    assert cli_main.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_cli_conversions(tmp_path, capsys):
    crops = tmp_path / "crops"
    crops.mkdir()
    (crops / "a.png").write_bytes(png(10))
    gt = tmp_path / "gt.txt"
    gt.write_text("a.png\tनमस्ते\nmissing.png\tx\n", encoding="utf-8")
    lmdb_out = tmp_path / "LMDB" / "hi" / "val_lmdb"
    argv = ["data", "gt2lmdb", str(gt), "--images", str(crops), "--out", str(lmdb_out)]
    assert cli_main.main(argv) == 1  # a skipped row: written, but the exit status says so
    captured = capsys.readouterr()
    assert "wrote 1, skipped 1" in captured.out and f"{gt}:2" in captured.out
    assert "1 row(s)" in captured.err and "skipped" in captured.err
    export = tmp_path / "export"
    assert cli_main.main(["data", "lmdb2manifest", str(lmdb_out), "--out", str(export),
                          "--dataset", "val"]) == 0  # lang from LMDB/hi/…
    record = json.loads((export / "manifest.jsonl").read_text(encoding="utf-8"))
    assert (record["lang"], record["gt_text"]) == ("hi", "नमस्ते")
    again = tmp_path / "again_lmdb"
    assert cli_main.main(["data", "manifest2lmdb", str(export / "manifest.jsonl"), "--root",
                          str(export), "--out", str(again), "--verify-ids"]) == 0
    assert "wrote 1, skipped 0" in capsys.readouterr().out


@pytest.mark.parametrize("sub", ["inspect", "gt2lmdb", "manifest2lmdb", "lmdb2manifest"])
def test_help(sub, capsys):
    with pytest.raises(SystemExit) as info:
        cli_main.main(["data", sub, "--help"])
    assert info.value.code == 0
    assert "--out" in capsys.readouterr().out

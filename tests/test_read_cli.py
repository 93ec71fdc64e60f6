"""``mstr read`` with a stub recognizer (no model): output format, bad files, folders, JSON."""
from __future__ import annotations

import json

import pytest
from conftest import png

import mstr.cli.main as cli_main
from mstr.reading.prediction import Prediction

RED, BLUE = (200, 0, 0), (0, 0, 200)
READS = {RED: ("BMW", 0.91234, "Latn"), BLUE: ("कलम", 0.5, "Deva")}


class StubRecognizer:
    name = "stub"
    langs = ["en", "hi"]
    config: dict = {}

    def __init__(self):
        self.batches: list[int] = []
        self.closed = 0

    def close(self):
        self.closed += 1

    def read(self, images, batch_size=64):
        from mstr.images import BadImage
        from mstr.inputs import to_image

        self.batches.append(len(images))
        out = []
        for path in images:  # the command gives paths; a bad file comes back with its error
            try:
                image = to_image(path, str(path))
            except BadImage as exc:
                out.append(Prediction(text="", confidence=0.0, script=None, error=str(exc)))
                continue
            text, conf, script = READS.get(image.getpixel((0, 0)), ("12", 0.25, None))
            out.append(Prediction(text=text, confidence=conf, script=script,
                                  chars=[(ch, conf) for ch in text]))
        return out


@pytest.fixture
def read_cli(monkeypatch):
    monkeypatch.setattr(cli_main, "SUBCOMMAND_MODULES", ("mstr.cli.read",))
    state = {"calls": [], "recognizer": StubRecognizer()}

    def fake_load(path=None, *, refiner=True, device="cpu", **kwargs):
        state["calls"].append({"path": path, "refiner": refiner, "device": device})
        state["kwargs"] = kwargs
        return state["recognizer"]

    monkeypatch.setattr("mstr.api.load", fake_load)
    return state


@pytest.fixture
def images(tmp_path):
    good1, good2 = tmp_path / "red.png", tmp_path / "blue.png"
    good1.write_bytes(png(RED))
    good2.write_bytes(png(BLUE))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n this is truncated")
    return good1, good2, corrupt


def test_read_prints_tab_lines_and_reports_bad_files(images, read_cli, capsys):
    good1, good2, corrupt = images
    assert cli_main.main(["read", str(good1), str(corrupt), str(good2)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{good1}\tBMW\t0.912\tLatn", f"{good2}\tकलम\t0.500\tDeva"]
    err_lines = err.splitlines()
    assert len(err_lines) == 1 and str(corrupt) in err_lines[0]
    # the default bundle (None) is left to mstr.api.load to resolve; the refiner is on
    assert read_cli["calls"] == [{"path": None, "refiner": True, "device": "cpu"}]


def test_read_all_good_exits_0_and_batches(images, read_cli, capsys, tmp_path):
    good1, good2, _ = images
    argv = ["read", str(good1), str(good2), str(good1), "--batch-size", "2", "--no-refiner",
            "--bundle", str(tmp_path / "bundle")]
    assert cli_main.main(argv) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert read_cli["recognizer"].batches == [2, 1]
    assert read_cli["calls"] == [{"path": tmp_path / "bundle", "refiner": False, "device": "cpu"}]


def test_read_json_lines_parse(images, read_cli, capsys):
    good1, good2, corrupt = images
    assert cli_main.main(["read", "--json", str(good1), str(good2), str(corrupt)]) == 1
    out, err = capsys.readouterr()
    objects = [json.loads(line) for line in out.splitlines()]
    # one record per input, the unreadable file's included (with its error): lines match inputs
    assert [o["path"] for o in objects] == [str(good1), str(good2), str(corrupt)]
    assert objects[0]["text"] == "BMW" and objects[0]["confidence"] == pytest.approx(0.91234)
    assert objects[1]["text"] == "कलम" and objects[1]["script"] == "Deva"
    assert objects[0]["chars"][0] == ["B", pytest.approx(0.91234)]
    assert objects[0]["error"] is None and objects[2]["text"] == ""
    assert "corrupt.png" in objects[2]["error"]
    assert "corrupt.png" in err


def test_read_folder_sorted_missing_file_and_no_script(tmp_path, read_cli, capsys):
    folder = tmp_path / "crops"
    folder.mkdir()
    (folder / "b.png").write_bytes(png(BLUE))
    (folder / "a.PNG").write_bytes(png(RED))
    (folder / "c.jpg").write_bytes(png((10, 10, 10)))  # PNG bytes with a .jpg name still decode
    (folder / "notes.txt").write_text("not an image")
    missing = tmp_path / "nope.png"
    assert cli_main.main(["read", str(folder), str(missing)]) == 1
    out, err = capsys.readouterr()
    assert [line.split("\t")[0] for line in out.splitlines()] == [
        str(folder / "a.PNG"), str(folder / "b.png"), str(folder / "c.jpg")]
    assert out.splitlines()[2].endswith("\t12\t0.250\t-")  # no script → "-"
    assert "nope.png" in err and "no such file" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_main.main(["read", str(empty)]) == 1
    assert "no image files" in capsys.readouterr().err


def test_read_help_explains_columns(read_cli, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["read", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "path<TAB>text<TAB>confidence<TAB>script" in text and "--bundle" in text
    assert read_cli["calls"] == []


def test_read_workers_reach_load_and_the_reader_is_closed(images, read_cli, capsys, monkeypatch):
    monkeypatch.setattr("mstr.reading.parallel.cpu_cores", lambda: 8)
    good1, good2, _ = images
    argv = ["read", str(good1), str(good2), "--workers", "2", "--refine-mode", "greedy", "--refine-below", "0.9"]
    assert cli_main.main(argv) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert read_cli["kwargs"]["workers"] == 2
    assert read_cli["kwargs"]["refine_mode"] == "greedy" and read_cli["kwargs"]["refine_below"] == 0.9
    assert read_cli["recognizer"].closed == 1
    assert cli_main.main(["read", str(good1), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert read_cli["kwargs"]["refine_ratio"] == 0.2  # the default gate
    assert cli_main.main(["read", str(good1), "--refine-ratio", "off"]) == 0
    assert read_cli["kwargs"]["refine_ratio"] is None
    for bad in ("1.5", "0", "some"):
        with pytest.raises(SystemExit):
            cli_main.main(["read", str(good1), "--refine-ratio", bad])
        assert "--refine-ratio" in capsys.readouterr().err

"""Fault injection: a corpus of bad inputs given to the command line, and kill -9 in the middle of
the jobs that write data (issue 19). Each case of :data:`CASES` asserts the exit status, exactly one
error line on stderr that names the file and says what to do, no traceback, and that nothing made
before is lost. docs/reliability.md lists the same cases and outcomes.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from conftest import V4_BUNDLE, dump_lmdb, png, png_header_only

import mstr.cli.main as cli_main

ROOT = Path(__file__).resolve().parents[1]
SRC = str(Path(cli_main.__file__).resolve().parents[2])  # the mstr under test, for child processes
CROP = ROOT / "samples" / "demo" / "real" / "1017_2.png"


@dataclass
class Case:
    """One bad input: how to make it, the command, and what the user must see."""

    name: str
    make: Callable[[Path], list[str]]  # builds the input under the folder, returns the argv
    status: int
    names: str  # the file the message must name (a path fragment)
    fix: str  # words of the fix the message must give
    after: Callable[[Path], None] | None = None  # checks that nothing made before was lost


def _read(name: str, data: bytes) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        (tmp / name).write_bytes(data)
        return ["read", "--no-refiner", str(CROP), str(tmp / name)]
    return make


def _bundle_with(change: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        shutil.copytree(V4_BUNDLE, tmp / "bundle")
        change(tmp / "bundle")
        return ["read", str(CROP), "--bundle", str(tmp / "bundle")]
    return make


def _pickle_as_weights(folder: Path) -> None:
    (folder / "spotter.safetensors").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))


def _old_pickle_bundle(folder: Path) -> None:
    _pickle_as_weights(folder)
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    cfg.pop("sha256")
    (folder / "config.json").write_text(json.dumps(cfg), encoding="utf-8")


def _flip_weights(folder: Path) -> None:
    data = bytearray((folder / "refiner.safetensors").read_bytes())
    data[-500] ^= 0x40
    (folder / "refiner.safetensors").write_bytes(bytes(data))


def _manifest_case(lines: Callable[[Path], list[bytes]]) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        (tmp / "img").mkdir()
        (tmp / "img" / "ok.png").write_bytes(png(1))
        (tmp / "secret.png").write_bytes(png(2))  # outside the root: must never be read
        good = json.dumps({"id": "a" * 40, "path_rel": "img/ok.png", "filename": "ok.png", "gt_text": "ok",
                           "lang": "en", "dataset": "t"}).encode()
        (tmp / "root").mkdir()
        shutil.move(tmp / "img", tmp / "root" / "img")
        (tmp / "m.jsonl").write_bytes(b"\n".join([good, *lines(tmp)]) + b"\n")
        return ["data", "manifest2lmdb", str(tmp / "m.jsonl"), "--root", str(tmp / "root"), "--out", str(tmp / "o")]
    return make


def _line(**kw: str) -> bytes:
    base = {"id": "b" * 40, "path_rel": "img/ok.png", "filename": "x.png", "gt_text": "x", "lang": "en",
            "dataset": "t"}
    return json.dumps({**base, **kw}).encode()


def _one_sample_lmdb(tmp: Path) -> None:
    lmdb_dump = dump_lmdb(tmp / "o")
    assert int(lmdb_dump[b"num-samples"]) == 1 and png(2) not in lmdb_dump.values()


def _existing_lmdb(tmp: Path) -> list[str]:
    from mstr.data.lmdb import LmdbWriter

    with LmdbWriter(tmp / "o") as writer:
        writer.add(png(9), "keep", "en")
    (tmp / "img").mkdir()
    (tmp / "img" / "new.png").write_bytes(png(3))
    (tmp / "gt.txt").write_text("img/new.png\tnew\n", encoding="utf-8")
    return ["data", "gt2lmdb", str(tmp / "gt.txt"), "--images", str(tmp), "--out", str(tmp / "o")]


def _kept_existing_lmdb(tmp: Path) -> None:
    items = dump_lmdb(tmp / "o")
    assert items[b"num-samples"] == b"1" and items[b"label-000000001"] == b"keep"


def _truncated_lmdb(tmp: Path) -> list[str]:
    from mstr.data.lmdb import LmdbWriter

    with LmdbWriter(tmp / "L" / "en" / "val_lmdb") as writer:
        for i in range(300):
            writer.add(png(i % 250) + bytes(200), f"w{i}", "en")
    data = tmp / "L" / "en" / "val_lmdb" / "data.mdb"
    os.truncate(data, data.stat().st_size // 3)
    return ["data", "inspect", str(tmp / "L" / "en" / "val_lmdb")]


def _existing_manifest(tmp: Path) -> list[str]:
    from mstr.data.lmdb import LmdbWriter

    with LmdbWriter(tmp / "L") as writer:
        writer.add(png(5), "w", "en")
    (tmp / "out").mkdir()
    (tmp / "out" / "manifest.jsonl").write_text("precious\n", encoding="utf-8")
    return ["data", "lmdb2manifest", str(tmp / "L"), "--out", str(tmp / "out"), "--dataset", "d"]


CASES = [
    Case("zero-byte image", _read("empty.png", b""), 1, "empty.png", "re-export or remove"),
    Case("truncated PNG", _read("cut.png", CROP.read_bytes()[:300]), 1, "cut.png", "corrupt"),
    Case("text file named .png", _read("notes.png", b"hello, not an image\n"), 1, "notes.png", "not an image"),
    Case("decompression bomb (header 60000x60000)", _read("bomb.png", png_header_only(60000, 60000)), 1,
         "bomb.png", "downscale"),
    Case("huge image (header 9000x9000)", _read("huge.png", png_header_only(9000, 9000)), 1, "huge.png",
         "downscale"),
    Case("zero-size image (header 0x10)", _read("zero.png", png_header_only(0, 10)), 1, "zero.png", "corrupt"),
    Case("missing image file", lambda tmp: ["read", str(CROP), str(tmp / "nope.png")], 1, "nope.png",
         "check the path"),
    Case("pickle named spotter.safetensors", _bundle_with(_pickle_as_weights), 2, "spotter.safetensors",
         "copy the bundle again"),
    Case("pickle in a bundle without checksums", _bundle_with(_old_pickle_bundle), 2, "spotter.safetensors",
         "safetensors"),
    Case("one flipped bit in refiner.safetensors", _bundle_with(_flip_weights), 2, "refiner.safetensors",
         "copy the bundle again"),
    Case("bundle folder missing", lambda tmp: ["read", str(CROP), "--bundle", str(tmp / "none")], 2, "none",
         "a bundle is a folder"),
    Case("--device gpu", lambda tmp: ["read", str(CROP), "--device", "gpu"], 2, "gpu", "use cpu"),
    Case("manifest path traversal (../, absolute)", _manifest_case(lambda tmp: [
        _line(path_rel="../secret.png"), _line(path_rel=str(tmp / "secret.png"))]), 1, "m.jsonl", "Fix or remove",
        _one_sample_lmdb),
    Case("manifest label not UTF-8", _manifest_case(lambda tmp: [_line()[:-20] + b"\xff\xfe" + _line()[-20:]]), 1,
         "m.jsonl", "Fix or remove", _one_sample_lmdb),
    Case("conversion into an existing LMDB", _existing_lmdb, 2, "/o", "--append", _kept_existing_lmdb),
    Case("truncated data.mdb", _truncated_lmdb, 2, "data.mdb", "re-create it"),
    Case("lmdb2manifest over an existing manifest", _existing_manifest, 2, "manifest.jsonl", "choose a new",
         lambda tmp: (tmp / "out" / "manifest.jsonl").read_text(encoding="utf-8") == "precious\n" or
         pytest.fail("the existing manifest was overwritten")),
]


def _error_lines(err: str) -> list[str]:
    """The user-facing error lines (logging warnings, which may precede them, aside)."""
    return [line for line in err.splitlines() if line.startswith(("error:", "mstr read:", "mstr data:"))]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_one_clear_line(case: Case, tmp_path, capsys):
    argv = case.make(tmp_path)
    capsys.readouterr()
    status = cli_main.main(argv)
    out, err = capsys.readouterr()
    lines = _error_lines(err)
    assert status == case.status, (status, err)
    assert "Traceback" not in err and len(lines) == 1, err
    assert case.names in lines[0] and case.fix in lines[0], lines[0]
    if case.after is not None:
        case.after(tmp_path)


# ---- kill -9 in the middle of writing data ------------------------------------------------------

def _run_killed(body: str, kill_after: int) -> int:
    """Run ``body`` in a child whose LmdbWriter kills the process (SIGKILL) at its ``kill_after``-th sample."""
    script = textwrap.dedent(f"""
        import os, signal
        from mstr.data import lmdb as L
        real, count = L.LmdbWriter.add, [0]
        def add(self, *a, **k):
            count[0] += 1
            if count[0] >= {kill_after}:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, *a, **k)
        L.LmdbWriter.add = add
    """) + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True).returncode


def test_kill9_during_synthesis_then_rerun_equals_an_uninterrupted_run(tmp_path):
    from mstr.synth.generate import GenSpec, generate

    spec = dict(kind="words", langs=("en", "hi"), n=16, seed=5, shard_size=4, val_frac=0.25)
    body = f"""
        from mstr.synth.generate import GenSpec, generate
        generate(GenSpec(**{spec!r}), {str(tmp_path / 'killed')!r}, progress=False)
    """
    assert _run_killed(body, kill_after=11) == -9
    generate(GenSpec(**spec), tmp_path / "killed", progress=False)  # the same command again
    generate(GenSpec(**spec), tmp_path / "fresh", progress=False)
    for lang in ("en", "hi"):
        for split in ("train", "val"):
            rel = Path("LMDB") / lang / f"{split}_lmdb"
            assert dump_lmdb(tmp_path / "killed" / rel) == dump_lmdb(tmp_path / "fresh" / rel)


def test_kill9_during_gt2lmdb_then_rerun_equals_an_uninterrupted_run(tmp_path):
    (tmp_path / "img").mkdir()
    lines = []
    for i in range(120):
        (tmp_path / "img" / f"{i}.png").write_bytes(png(i))
        lines.append(f"img/{i}.png\tw{i}")
    (tmp_path / "gt.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = lambda out: ["data", "gt2lmdb", str(tmp_path / "gt.txt"), "--images", str(tmp_path), "--out", str(out)]  # noqa: E731
    body = f"""
        from mstr.cli.main import main
        main({argv(tmp_path / 'killed')!r})
    """
    assert _run_killed(body, kill_after=60) == -9
    assert not (tmp_path / "killed").exists()
    assert cli_main.main(argv(tmp_path / "killed")) == 0
    assert cli_main.main(argv(tmp_path / "fresh")) == 0
    assert dump_lmdb(tmp_path / "killed") == dump_lmdb(tmp_path / "fresh")

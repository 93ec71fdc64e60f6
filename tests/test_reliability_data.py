"""Datasets: LMDB conversions whole or not at all, damaged LMDBs, duplicates, splits
(issue 19, items 2 and 9)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import dump_lmdb, png

import mstr.cli.main as cli_main
from mstr.data.convert import manifest_to_lmdb
from mstr.data.lmdb import LmdbReader, release_env
from mstr.data.manifest import make_record, read_manifest, write_manifest
from mstr.errors import UserError

SRC = str(Path(cli_main.__file__).resolve().parents[2])  # the mstr under test, for child processes


def make_manifest(folder: Path, n: int, start: int = 0, name: str = "manifest.jsonl") -> Path:
    (folder / "img").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(start, start + n):
        path = folder / "img" / f"{i:05d}.png"
        path.write_bytes(png((i % 256, (i // 256) % 256, 77)))
        records.append(make_record(folder, path, f"w{i}", "en", "toy"))
    write_manifest(records, folder / name)
    return folder / name


def _convert_and_kill(manifest: Path, out: Path, after: int, append: bool = False) -> int:
    """Run manifest_to_lmdb in a child that kills itself (SIGKILL) after ``after`` samples."""
    script = textwrap.dedent(f"""
        import os, signal
        from mstr.data import lmdb as L
        from mstr.data.convert import manifest_to_lmdb
        real = L.LmdbWriter.add
        def add(self, *a, **k):
            index = real(self, *a, **k)
            if index - self._committed_at_start >= {after}:
                os.kill(os.getpid(), signal.SIGKILL)
            return index
        init = L.LmdbWriter.__init__
        def start(self, *a, **k):
            init(self, *a, **k)
            self._committed_at_start = self.committed
        L.LmdbWriter.__init__ = start
        L.LmdbWriter.add = add
        manifest_to_lmdb({str(manifest)!r}, {str(manifest.parent)!r}, {str(out)!r}, append={append},
                         commit_every=25)
    """)
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True).returncode


# ---- item 2: kill -9, Ctrl-C, two writers, truncated files --------------------------------------

def test_kill9_during_conversion_leaves_nothing_and_a_rerun_equals_an_uninterrupted_run(tmp_path):
    manifest = make_manifest(tmp_path / "src", 160)
    out, reference = tmp_path / "out_lmdb", tmp_path / "ref_lmdb"
    assert _convert_and_kill(manifest, out, after=90) == -9
    assert not out.exists()  # no half-written LMDB that looks valid
    with pytest.raises(UserError, match="no such LMDB"):
        LmdbReader(out)
    assert list(tmp_path.glob(".out_lmdb.partial-*"))  # the killed run's work, beside it
    assert manifest_to_lmdb(manifest, manifest.parent, out).written == 160  # the same command again
    assert not list(tmp_path.glob(".out_lmdb.partial-*"))
    manifest_to_lmdb(manifest, manifest.parent, reference)
    assert dump_lmdb(out) == dump_lmdb(reference)


def test_kill9_during_append_keeps_the_previous_lmdb_whole(tmp_path):
    first = make_manifest(tmp_path / "src", 40)
    more = make_manifest(tmp_path / "src", 120, start=40, name="more.jsonl")
    out, reference = tmp_path / "out_lmdb", tmp_path / "ref_lmdb"
    manifest_to_lmdb(first, first.parent, out)
    before = dump_lmdb(out)
    assert _convert_and_kill(more, out, after=70, append=True) == -9
    assert dump_lmdb(out) == before
    manifest_to_lmdb(more, more.parent, out, append=True)  # the rerun adds each sample once
    manifest_to_lmdb(first, first.parent, reference)
    manifest_to_lmdb(more, more.parent, reference, append=True)
    assert dump_lmdb(out) == dump_lmdb(reference)
    assert LmdbReader(out).num_samples == 160


def test_ctrl_c_says_nothing_was_written(tmp_path, monkeypatch, capsys):
    manifest = make_manifest(tmp_path / "src", 30)
    from mstr.data import lmdb as L

    real = L.LmdbWriter.add

    def add(self, *args, **kwargs):
        if self.num_samples >= 20:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(L.LmdbWriter, "add", add)
    out = tmp_path / "out_lmdb"
    argv = ["data", "manifest2lmdb", str(manifest), "--root", str(manifest.parent), "--out", str(out)]
    assert cli_main.main(argv) == 130
    err = capsys.readouterr().err
    assert "nothing was written" in err and str(out) in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_two_conversions_into_one_out_at_once(tmp_path, capsys):
    from mstr.atomic import output_lock

    manifest = make_manifest(tmp_path / "src", 10)
    out = tmp_path / "out_lmdb"
    argv = ["data", "manifest2lmdb", str(manifest), "--root", str(manifest.parent), "--out", str(out)]
    with output_lock(out, "LMDB"):  # as another conversion into the same --out would hold it
        assert cli_main.main(argv) == 2
    err = capsys.readouterr().err
    assert "another mstr process" in err and str(out) in err and not out.exists()
    assert cli_main.main(argv) == 0


def test_a_truncated_lmdb_is_a_clear_error_not_sigbus(tmp_path):
    manifest = make_manifest(tmp_path / "src", 200)
    out = tmp_path / "out_lmdb"
    manifest_to_lmdb(manifest, manifest.parent, out)
    release_env(out)
    data = out / "data.mdb"
    os.truncate(data, data.stat().st_size // 2)
    with pytest.raises(UserError, match="truncated"):
        LmdbReader(out)
    env = {**os.environ, "PYTHONPATH": SRC}
    for argv in (["data", "inspect", str(out)],
                 ["eval", "--bundle", SRC + "/mstr/resources/models/default", "--lmdb", str(out), "--langs", "en",
                  "--out", str(tmp_path / "ev")]):
        proc = subprocess.run([sys.executable, "-m", "mstr", *argv], env=env, capture_output=True, text=True)
        assert proc.returncode == 2, (argv, proc.returncode, proc.stderr[-500:])
        assert "truncated" in proc.stderr and "Traceback" not in proc.stderr
    os.truncate(data, 100)
    with pytest.raises(UserError, match="not an LMDB file"):
        LmdbReader(out)


# ---- item 9: duplicates, the split, skipped rows --------------------------------------------------

def test_duplicate_ids_are_warned_about(tmp_path, caplog):
    manifest = make_manifest(tmp_path, 5)
    lines = manifest.read_text(encoding="utf-8").splitlines()
    manifest.write_text("\n".join(lines + [lines[2]]) + "\n", encoding="utf-8")
    read = read_manifest(manifest, tmp_path)
    assert len(read.records) == 6 and len(read.duplicates) == 1
    assert f"{manifest}:6" in read.duplicates[0] and "repeats line 3" in read.duplicates[0]
    assert "repeat an earlier line" in caplog.text


def test_split_keeps_one_image_on_one_side_whatever_its_ids(tmp_path):
    from mstr.data.split import split_manifest

    manifest = make_manifest(tmp_path, 60)
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    copies = [dict(r, id=f"{i:040x}") for i, r in enumerate(rows)]  # the same images, other ids
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows + copies), encoding="utf-8")
    split_manifest(manifest, tmp_path, tmp_path / "split", frac=0.3)
    sides = [{json.loads(line)["path_rel"] for line in (tmp_path / "split" / f"{n}.jsonl").open(encoding="utf-8")}
             for n in ("finetune", "dev")]
    assert sides[0] and sides[1] and not sides[0] & sides[1]


def test_manifest2lmdb_exits_1_when_lines_were_skipped(tmp_path, capsys):
    manifest = make_manifest(tmp_path, 12)
    with manifest.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
        fh.write(json.dumps({"id": "x", "path_rel": "../../etc/passwd", "filename": "p", "gt_text": "a",
                             "lang": "en", "dataset": "d"}) + "\n")
    (tmp_path / "img" / "00003.png").write_bytes(b"")
    argv = ["data", "manifest2lmdb", str(manifest), "--root", str(tmp_path), "--out", str(tmp_path / "o")]
    assert cli_main.main(argv) == 1
    captured = capsys.readouterr()
    assert "wrote 11, skipped 3" in captured.out and "3 row(s)" in captured.err
    assert LmdbReader(tmp_path / "o").num_samples == 11

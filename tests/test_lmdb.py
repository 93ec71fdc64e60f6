"""LMDB writer/reader/dataset in the deep-text-recognition-benchmark / PARSeq convention."""
from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap

import lmdb
import pytest
from conftest import png

from mstr.data.lmdb import LmdbDataset, LmdbReader, LmdbWriter, lmdb_info
from mstr.errors import UserError
from mstr.text import normalize

HINDI = "नमस्ते"
TAMIL = "கொடி"  # ொ splits into ெ + ா under NFKD


def write_dtrb_lmdb(folder, samples) -> None:
    """Write an LMDB the way deep-text-recognition-benchmark's create_lmdb_dataset.py does."""
    os.makedirs(folder, exist_ok=True)
    env = lmdb.open(str(folder), map_size=1 << 24)
    cache = {}
    cnt = 1
    for image_bin, label in samples:
        image_key = "image-%09d" % cnt
        label_key = "label-%09d" % cnt
        cache[image_key.encode()] = image_bin
        cache[label_key.encode()] = label.encode()
        cnt += 1
    cache["num-samples".encode()] = str(cnt - 1).encode()
    with env.begin(write=True) as txn:
        for key, value in cache.items():
            txn.put(key, value)
    env.close()


@pytest.fixture
def dtrb_lmdb(tmp_path):
    folder = tmp_path / "LMDB" / "hi" / "train_lmdb"
    write_dtrb_lmdb(folder, [(png(10, (12, 6)), "abc"), (png(20), HINDI), (png(30), "x y")])
    return folder


def test_reads_dtrb_lmdb_unchanged(dtrb_lmdb):
    ds = LmdbDataset(dtrb_lmdb)
    assert len(ds) == 3 and ds.skipped == {}
    image, label, lang = ds[0]
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (10, 10, 10)
    assert (label, lang) == ("abc", "hi")  # lang from the LMDB/<lang>/train_lmdb layout
    assert ds[1][1] == normalize(HINDI)
    assert ds[2][1] == "xy"  # whitespace removed by normalisation
    assert ds[-1][0].getpixel((0, 0)) == (30, 30, 30)
    with pytest.raises(IndexError):
        ds[3]


def test_lang_argument_and_unknown_folder(tmp_path):
    folder = tmp_path / "plain_lmdb"
    write_dtrb_lmdb(folder, [(png(1), "a")])
    assert LmdbDataset(folder)[0][2] is None
    assert LmdbDataset(folder, lang="ta")[0][2] == "ta"


def test_round_trip_with_lang_keys(tmp_path):
    folder = tmp_path / "mixed"
    with LmdbWriter(folder, commit_every=2) as writer:
        assert writer.add(png(1), "Road", "en") == 1
        assert writer.add(png(2), HINDI, "hi") == 2
        assert writer.add(png(3), TAMIL, "ta") == 3
        assert writer.num_samples == 3
    ds = LmdbDataset(folder, lang="xx")  # per-sample keys win over the default
    assert [ds[i][1:] for i in range(3)] == [("Road", "en"), (normalize(HINDI), "hi"),
                                             (normalize(TAMIL), "ta")]
    assert len(normalize(TAMIL)) == 5
    assert [ds[i][0].getpixel((0, 0))[0] for i in range(3)] == [1, 2, 3]
    raw = LmdbDataset(folder, normalize_labels=False)
    assert raw[2][1] == TAMIL
    ds.close()  # py-lmdb allows one handle per LMDB and process
    with lmdb.open(str(folder), readonly=True, lock=False) as env, env.begin() as txn:
        assert txn.get(b"num-samples") == b"3"
        assert txn.get(b"label-000000002").decode("utf-8") == HINDI
        assert txn.get(b"lang-000000003") == b"ta"
    assert lmdb_info(folder) == {"path": str(folder), "num_samples": 3,
                                 "langs": {"en": 1, "hi": 1, "ta": 1}, "lang_keys": 3}


def test_resume_continues_numbering(tmp_path):
    folder = tmp_path / "resume"
    with LmdbWriter(folder) as writer:
        writer.add(png(1), "one")
        writer.add(png(2), "two")
    with LmdbWriter(folder) as writer:
        assert writer.num_samples == 2
        assert writer.add(png(3), "three") == 3
    ds = LmdbDataset(folder)
    assert [ds[i][1] for i in range(3)] == ["one", "two", "three"]


def test_killed_writer_leaves_consistent_db(tmp_path):
    folder = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import os
        from mstr.data.lmdb import LmdbWriter
        writer = LmdbWriter({str(folder)!r}, commit_every=2)
        for i in range(5):
            writer.add({png(5)!r}, "w%d" % i)
        os._exit(1)  # killed: the 5th sample was never committed
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == 1, result.stderr.decode()
    ds = LmdbDataset(folder)
    assert ds.num_samples == 4 and [ds[i][1] for i in range(4)] == ["w0", "w1", "w2", "w3"]
    with LmdbWriter(folder) as writer:
        assert writer.add(png(6), "w4") == 5


def test_abort_drops_uncommitted_batch(tmp_path):
    folder = tmp_path / "aborted"
    writer = LmdbWriter(folder, commit_every=3)
    for i in range(4):
        writer.add(png(i), f"s{i}")
    writer.abort()
    assert LmdbReader(folder).num_samples == 3
    assert len(LmdbDataset(folder)) == 3


def test_map_grows_when_full(tmp_path):
    folder = tmp_path / "grow"
    blob = os.urandom(40_000)  # add() does not decode images
    with LmdbWriter(folder, map_size=1 << 16, commit_every=3) as writer:
        for i in range(10):
            writer.add(blob, f"s{i}")
    with LmdbReader(folder) as reader:
        assert reader.num_samples == 10
        assert reader.image_bytes(10) == blob
        assert [r.label for r in reader.iter_labels()] == [f"s{i}" for i in range(10)]


def test_skipped_labels_are_counted_and_reported(tmp_path, caplog):
    folder = tmp_path / "LMDB" / "en" / "train_lmdb"
    labels = ["good", "", "   ", "waytoolong", "abक", "fine"]
    write_dtrb_lmdb(folder, [(png(i), label) for i, label in enumerate(labels)])
    with caplog.at_level(logging.WARNING):
        ds = LmdbDataset(folder, charset_langs=["en"], max_len=6)
    assert len(ds) == 2 and [ds[0][1], ds[1][1]] == ["good", "fine"]
    assert ds.skipped == {"empty": 2, "too_long": 1, "out_of_charset": 1}
    assert [(i, r) for i, _, r in ds.skipped_examples] == [
        (2, "empty"), (3, "empty"), (4, "too_long"), (5, "out_of_charset")]
    assert ds.missing_chars == {"क": 1}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(folder) in warnings[0] and "label-000000002" in warnings[0]
    assert "skipped 4 of 6" in warnings[0]


def test_corrupt_image_is_skipped_with_warning(tmp_path, caplog):
    folder = tmp_path / "corrupt"
    write_dtrb_lmdb(folder, [(png(1), "a"), (b"\x89PNG broken", "b"), (png(3), "c")])
    ds = LmdbDataset(folder)
    with caplog.at_level(logging.WARNING):
        image, label, _ = ds[1]
    assert label == "c" and image.getpixel((0, 0)) == (3, 3, 3)
    assert ds.bad_images == 1
    message = " ".join(r.getMessage() for r in caplog.records)
    assert str(folder) in message and "image-000000002" in message
    ds[1]
    assert ds.bad_images == 1  # counted once per sample


def test_transform_and_pickle(dtrb_lmdb):
    ds = LmdbDataset(dtrb_lmdb, transform=lambda im: im.size)
    assert ds[0][0] == (12, 6)
    plain = LmdbDataset(dtrb_lmdb)
    plain[0]  # opens the environment
    clone = pickle.loads(pickle.dumps(plain))
    assert clone[2][1] == "xy" and len(clone) == 3


def _label_in_child(ds: LmdbDataset) -> str:
    return ds[1][1]


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_works_in_forked_worker(dtrb_lmdb):
    ds = LmdbDataset(dtrb_lmdb)
    ds[0]  # environment opened in the parent before the fork
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_label_in_child, (ds,)) == normalize(HINDI)


def test_clear_errors(tmp_path):
    with pytest.raises(UserError, match="no such LMDB"):
        LmdbDataset(tmp_path / "missing")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(UserError, match="not an LMDB"):
        LmdbDataset(tmp_path / "empty_dir")
    no_count = tmp_path / "no_count"
    with lmdb.open(str(no_count)) as env, env.begin(write=True) as txn:
        txn.put(b"label-000000001", b"a")
    with pytest.raises(UserError, match="num-samples"):
        lmdb_info(no_count)
    with pytest.raises(UserError, match="num-samples"):
        LmdbWriter(no_count)
    bad_count = tmp_path / "bad_count"
    with lmdb.open(str(bad_count)) as env, env.begin(write=True) as txn:
        txn.put(b"num-samples", b"many")
    with pytest.raises(UserError, match="not a whole number"):
        LmdbDataset(bad_count)


def test_writer_rejects_bad_input(tmp_path):
    folder = tmp_path / "w"
    with LmdbWriter(folder) as writer:
        with pytest.raises(ValueError):
            writer.add(png(1), "a", "not a code")
        with pytest.raises(ValueError):
            writer.add(b"", "a")
        assert writer.add(png(1), "a") == 1  # the failed calls left no trace
    assert len(LmdbDataset(folder)) == 1
    LmdbWriter(tmp_path / "new").close()
    assert len(LmdbDataset(tmp_path / "new")) == 0  # a new LMDB is valid while empty
    writer = LmdbWriter(tmp_path / "open")
    with pytest.raises(UserError, match="close"):
        LmdbDataset(tmp_path / "open")
    writer.close()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        LmdbWriter(other)


def test_missing_label_key_is_counted(tmp_path):
    folder = tmp_path / "gap"
    write_dtrb_lmdb(folder, [(png(1), "a"), (png(2), "b")])
    with lmdb.open(str(folder)) as env, env.begin(write=True) as txn:
        txn.delete(b"label-000000001")
        txn.put(b"num-samples", b"3")  # claims one sample more than stored
    ds = LmdbDataset(folder)
    assert len(ds) == 1 and ds.skipped == {"missing_label": 2}

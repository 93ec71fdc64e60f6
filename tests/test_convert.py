"""gt.txt -> LMDB, manifest -> LMDB -> manifest: data kept, bad rows counted with their line."""
from __future__ import annotations

import hashlib
import json

import pytest
from conftest import encode, png
from PIL import Image

from mstr.data.convert import gt_to_lmdb, lmdb_to_manifest, manifest_to_lmdb
from mstr.data.lmdb import LmdbDataset, LmdbReader, LmdbWriter
from mstr.data.manifest import make_record, read_manifest, write_manifest
from mstr.errors import UserError
from mstr.text import normalize


@pytest.fixture
def crops(tmp_path):
    folder = tmp_path / "crops"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(png(10))
    (folder / "sub" / "b.jpg").write_bytes(encode(Image.new("RGB", (10, 5), (200, 0, 0)), "JPEG"))
    (folder / "broken.png").write_bytes(png(5)[:30])
    (tmp_path / "secret.png").write_bytes(png(99))
    return folder


def test_gt_to_lmdb(crops, tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("\n".join([
        "a.png\tHello",            # 1 good
        "sub/b.jpg\tनमस्ते",        # 2 good
        "missing.png\tx",          # 3 missing file
        "a.png",                   # 4 no tab
        "a.png\t  ",               # 5 empty label
        "broken.png\tbad",         # 6 corrupt image
        "../secret.png\tleak",     # 7 escapes the image root
        "",                        # 8 blank: ignored
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "LMDB" / "hi" / "train_lmdb"
    report = gt_to_lmdb(gt, crops, out, lang="hi")
    assert report.written == 2
    assert report.skipped == {"missing_file": 1, "malformed_line": 1, "empty_label": 1,
                              "bad_image": 1, "unsafe_path": 1}
    assert report.examples["missing_file"][0].startswith(f"{gt}:3: ")
    assert report.examples["bad_image"][0].startswith(f"{gt}:6: ")
    assert report.examples["unsafe_path"][0].startswith(f"{gt}:7: ")
    assert "skipped 5" in report.summary()
    ds = LmdbDataset(out)
    assert [ds[i][1:] for i in range(2)] == [("Hello", "hi"),
                                             (normalize("नमस्ते"), "hi")]
    with LmdbReader(out) as reader:
        assert reader.image_bytes(2) == (crops / "sub" / "b.jpg").read_bytes()  # bytes unchanged


def test_gt_to_lmdb_refuses_existing_unless_append(crops, tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("a.png\tone\n", encoding="utf-8")
    out = tmp_path / "out_lmdb"
    gt_to_lmdb(gt, crops, out)
    with pytest.raises(UserError, match="--append"):
        gt_to_lmdb(gt, crops, out)
    assert gt_to_lmdb(gt, crops, out, append=True).written == 1
    assert LmdbReader(out).num_samples == 2
    with pytest.raises(UserError, match="unknown language"):
        gt_to_lmdb(gt, crops, tmp_path / "x", lang="klingon")
    with pytest.raises(UserError, match="gt file not found"):
        gt_to_lmdb(tmp_path / "none.txt", crops, tmp_path / "y")


def test_manifest_lmdb_manifest_round_trip(crops, tmp_path):
    records = [make_record(crops, crops / "a.png", "Hello World", "en", "demo"),
               make_record(crops, crops / "sub" / "b.jpg", "கொடி", "ta", "demo")]
    manifest = tmp_path / "in.jsonl"
    write_manifest(records, manifest)
    with open(manifest, "a", encoding="utf-8") as handle:
        handle.write("not json\n")
    lmdb_path = tmp_path / "mixed_lmdb"
    report = manifest_to_lmdb(manifest, crops, lmdb_path)
    assert report.written == 2 and report.skipped == {"invalid_json": 1}
    assert report.examples["invalid_json"][0].startswith(f"{manifest}:3: ")

    out_dir = tmp_path / "exported"
    back = lmdb_to_manifest(lmdb_path, out_dir, "demo")
    assert back.written == 2 and back.skipped == {}
    read = read_manifest(out_dir / "manifest.jsonl", out_dir, verify_ids=True)
    assert read.problems == []
    assert [(r.id, r.gt_text, r.lang, r.dataset) for r in read.records] == \
        [(r.id, r.gt_text, r.lang, r.dataset) for r in records]
    assert read.records[1].path_rel == "ta/demo/images/000000002.jpg"
    assert (out_dir / read.records[0].path_rel).read_bytes() == (crops / "a.png").read_bytes()


def test_lmdb_to_manifest_skips_bad_samples(tmp_path):
    lmdb_path = tmp_path / "src_lmdb"
    with LmdbWriter(lmdb_path) as writer:
        writer.add(png(1), "good", "en")
        writer.add(b"garbage", "corrupt", "en")
        writer.add(png(2), "nolang")
        writer.add(png(3), " ", "en")
    report = lmdb_to_manifest(lmdb_path, tmp_path / "out", "ds")
    assert report.written == 1
    assert report.skipped == {"bad_image": 1, "unknown_lang": 1, "empty_label": 1}
    assert "image-000000002" in report.examples["bad_image"][0]
    assert "--lang" in report.examples["unknown_lang"][0]
    lines = (tmp_path / "out" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["gt_text"] for x in lines] == ["good"]
    assert json.loads(lines[0])["id"] == hashlib.sha1(png(1)).hexdigest()
    with pytest.raises(UserError, match="already exists"):
        lmdb_to_manifest(lmdb_path, tmp_path / "out", "ds")
    with_lang = lmdb_to_manifest(lmdb_path, tmp_path / "out2", "ds", lang="hi")
    assert with_lang.written == 2
    with pytest.raises(UserError, match="simple folder name"):
        lmdb_to_manifest(lmdb_path, tmp_path / "out3", "../evil")

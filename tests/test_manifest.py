"""JSON-lines manifest: records kept, bad lines reported with line numbers, unsafe paths refused."""
from __future__ import annotations

import hashlib
import json

import pytest
from conftest import png

import mstr.data.manifest as manifest_module
from mstr.data.manifest import (ManifestRecord, make_record, read_manifest, resolve_under,
                                write_manifest)
from mstr.errors import UserError


@pytest.fixture
def root(tmp_path):
    """root/en/ds/images/{a,b}.png, a symlink to outside/x.png, and outside/x.png."""
    base = tmp_path / "root"
    images = base / "en" / "ds" / "images"
    images.mkdir(parents=True)
    (images / "a.png").write_bytes(png(1))
    (images / "b.png").write_bytes(png(2))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.png").write_bytes(png(3))
    (images / "link.png").symlink_to(outside / "x.png")
    return base


def line(path_rel: str, gt: object = "BMW", lang: object = "en") -> str:
    obj = {"id": hashlib.sha1(b"?").hexdigest(), "path_rel": path_rel,
           "filename": path_rel.rsplit("/", 1)[-1], "gt_text": gt, "lang": lang,
           "dataset": "ds"}
    return json.dumps(obj, ensure_ascii=False)


def test_good_lines_kept_bad_lines_reported(root, tmp_path):
    manifest = tmp_path / "m.jsonl"
    good_a = make_record(root, root / "en/ds/images/a.png", "Road", "en", "ds")
    lines = [
        json.dumps(good_a.to_dict()),                     # 1 good
        line("../outside/x.png"),                         # 2 escapes with ..
        line(str(tmp_path / "outside" / "x.png")),        # 3 absolute
        line("en/ds/images/link.png"),                    # 4 symlink out of root
        line("en/ds/images/missing.png"),                 # 5 missing file
        '{"id": "abc", "path_rel": ',                     # 6 bad JSON
        json.dumps({"id": "x", "path_rel": "en/ds/images/a.png"}),  # 7 missing keys
        line("en/ds/images/a.png", gt=5),                 # 8 wrong type
        line("en/ds/images/a.png", lang="xx"),            # 9 unknown lang
        line("en/ds/images/a.png", gt="  "),              # 10 empty gt_text
        "",                                               # 11 blank: ignored
        line("en/ds/images/b.png", gt="नमस्ते", lang="hi"),  # 12 good
    ]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    read = read_manifest(manifest, root)
    assert [r.path_rel for r in read.records] == ["en/ds/images/a.png", "en/ds/images/b.png"]
    assert read.records[0] == good_a and read.records[1].gt_text == "नमस्ते"
    assert [(p.line, p.reason) for p in read.problems] == [
        (2, "unsafe_path"), (3, "unsafe_path"), (4, "unsafe_path"), (5, "missing_file"),
        (6, "invalid_json"), (7, "missing_keys"), (8, "wrong_type"), (9, "unknown_lang"),
        (10, "empty_gt_text")]
    for problem in read.problems:
        assert str(problem).startswith(f"{manifest}:{problem.line}: ")
    messages = {p.line: str(p) for p in read.problems}
    assert "escapes the root" in messages[2] and "absolute" in messages[3]
    assert "escapes the root" in messages[4]
    assert "gt_text, lang, dataset" in messages[7]
    assert read.problem_counts["unsafe_path"] == 3
    assert "2 records kept, 9 lines rejected" in read.summary()


def test_escaping_paths_are_never_read(root, tmp_path, monkeypatch):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join([line("../outside/x.png"), line("en/ds/images/link.png"),
                                   line("en/ds/images/a.png")]) + "\n", encoding="utf-8")
    opened = []
    real = manifest_module.sha1_file
    monkeypatch.setattr(manifest_module, "sha1_file", lambda p: opened.append(p) or real(p))
    read = read_manifest(manifest, root, verify_ids=True)
    assert opened == [(root / "en/ds/images/a.png").resolve()]  # only the safe one was read
    assert [p.reason for p in read.problems] == ["unsafe_path", "unsafe_path", "id_mismatch"]
    assert read.problems[2].line == 3 and "SHA-1" in read.problems[2].message


def test_verify_ids_accepts_correct_sha1(root, tmp_path):
    record = make_record(root, root / "en/ds/images/b.png", "b", "en", "ds")
    assert record.id == hashlib.sha1(png(2)).hexdigest()
    manifest = tmp_path / "ok.jsonl"
    write_manifest([record], manifest)
    read = read_manifest(manifest, root, verify_ids=True)
    assert read.records == [record] and read.problems == []


def test_write_read_round_trip(root, tmp_path):
    records = [make_record(root, root / "en/ds/images/a.png", "Ünïcode", "en", "ds"),
               make_record(root, root / "en/ds/images/b.png", "கொடி", "ta", "ds")]
    path = tmp_path / "out" / "manifest.jsonl"
    assert write_manifest(records, path) == 2
    text = path.read_text(encoding="utf-8")
    assert "கொடி" in text  # not ASCII-escaped
    assert list(json.loads(text.splitlines()[0])) == ["id", "path_rel", "filename", "gt_text",
                                                      "lang", "dataset"]
    assert read_manifest(path, root).records == records


def test_make_record_fields_and_errors(root, tmp_path):
    record = make_record(root, root / "en" / "ds" / "images" / "a.png", "BMW", "en", "cute80")
    assert record == ManifestRecord(id=hashlib.sha1(png(1)).hexdigest(),
                                    path_rel="en/ds/images/a.png", filename="a.png",
                                    gt_text="BMW", lang="en", dataset="cute80")
    with pytest.raises(UserError, match="not under the root"):
        make_record(root, tmp_path / "outside" / "x.png", "x", "en", "ds")
    with pytest.raises(UserError, match="escapes"):
        make_record(root, root / "en/ds/images/link.png", "x", "en", "ds")
    with pytest.raises(UserError, match="unknown lang"):
        make_record(root, root / "en/ds/images/a.png", "x", "zz", "ds")


def test_resolve_under(root):
    expected = (root / "en/ds/images/a.png").resolve()
    assert resolve_under(root, "en/ds/../ds/images/a.png") == expected
    for bad in ("", "/etc/passwd", "C:/x.png", "../x.png", "en/../../x.png"):
        with pytest.raises(UserError):
            resolve_under(root, bad)


def test_missing_manifest_or_root(root, tmp_path):
    with pytest.raises(UserError, match="manifest file not found"):
        read_manifest(tmp_path / "nope.jsonl", root)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="root folder not found"):
        read_manifest(manifest, tmp_path / "no_root")

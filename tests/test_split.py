"""Deterministic manifest split: disjoint, complete, stable under line order."""
from __future__ import annotations

import json

from conftest import png

from mstr.cli.main import main
from mstr.data.manifest import make_record, read_manifest, write_manifest


def _manifest(tmp_path, n=40, reverse=False):
    root = tmp_path / "root"
    (root / "img").mkdir(parents=True, exist_ok=True)
    recs = []
    for i in range(n):
        p = root / "img" / f"{i}.png"
        p.write_bytes(png((i, 0, 0), (20 + i, 10)))
        recs.append(make_record(root, p, f"w{i}", "en", "toy"))
    m = tmp_path / ("m_rev.jsonl" if reverse else "m.jsonl")
    write_manifest(recs[::-1] if reverse else recs, m)
    return m, root


def test_split_is_disjoint_complete_and_order_independent(tmp_path):
    m, root = _manifest(tmp_path)
    assert main(["data", "split", str(m), "--root", str(root), "--out", str(tmp_path / "a"), "--frac", "0.25"]) == 0
    fine = {r.id for r in read_manifest(tmp_path / "a" / "finetune.jsonl", root).records}
    dev = {r.id for r in read_manifest(tmp_path / "a" / "dev.jsonl", root).records}
    assert fine.isdisjoint(dev) and len(fine) + len(dev) == 40
    assert 3 <= len(dev) <= 20
    m2, _ = _manifest(tmp_path, reverse=True)
    assert main(["data", "split", str(m2), "--root", str(root), "--out", str(tmp_path / "b"), "--frac", "0.25"]) == 0
    dev2 = {json.loads(line)["id"] for line in (tmp_path / "b" / "dev.jsonl").read_text().splitlines()}
    assert dev2 == dev


def test_bad_fraction_is_a_user_error(tmp_path, capsys):
    m, root = _manifest(tmp_path, n=3)
    assert main(["data", "split", str(m), "--root", str(root), "--out", str(tmp_path / "c"), "--frac", "1.5"]) == 2
    assert "--frac" in capsys.readouterr().err

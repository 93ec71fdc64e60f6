"""The shipped preview of v5 (PP-OCRv6-small encoder, 8 languages): a complete, verified bundle that
reads the real English demo crops better than the default model does."""
from __future__ import annotations

import json
import re
from pathlib import Path

import mstr
from mstr.api import default_bundle_path

PREVIEW = default_bundle_path().parent / "v5-preview"
DEMO = Path(__file__).resolve().parents[1] / "samples" / "demo"


def _alnum(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def test_preview_bundle_is_complete_and_self_describing():
    cfg = json.loads((PREVIEW / "config.json").read_text())
    assert cfg["spotter"]["encoder"] == "ppocr-small" and cfg["spotter"]["image_size"] == [48, 192]
    assert set(cfg["langs"]) == {"en", "hi", "mr", "bn", "ta", "te", "ml", "kn"}
    assert set(cfg["sha256"]) >= {"spotter.safetensors"}
    assert "Apache" in (PREVIEW / "NOTICE.md").read_text()
    size = sum(p.stat().st_size for p in PREVIEW.rglob("*") if p.is_file())
    assert size < 30e6


def test_preview_reads_real_english_better_than_the_default():
    rows = [json.loads(line) for line in (DEMO / "manifest.jsonl").read_text().splitlines()]
    real = [r for r in rows if r["path_rel"].startswith("real/")]
    paths = [DEMO / r["path_rel"] for r in real]
    scores = {}
    for name, path in (("default", None), ("preview", PREVIEW)):
        preds = mstr.load(path, refiner=False).read(paths)
        scores[name] = sum(_alnum(p.text) == _alnum(r["gt_text"]) for p, r in zip(preds, real))
    assert scores["preview"] > scores["default"], scores
    assert scores["preview"] >= 0.75 * len(real), scores

"""tools/photo_words_table.py: the side-by-side table of words found on the sample photos."""
from __future__ import annotations

import json

from conftest import tool_module


def test_score_matches_each_reference_word_once_case_and_punctuation_blind():
    with tool_module("photo_words_table") as t:
        assert t.score(["Kiss", "my", "MY", "lips,", "kiss"], ["KISS", "MY", "LIPS"]) == 3
        assert t.score(["हिंदी"], ["हिंदी"]) == 1  # vowel signs are part of the key, not dropped
        assert t.score(["हदी"], ["हिंदी"]) == 0


def test_table_counts_words_per_engine_against_the_transcript(tmp_path):
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"")
    (tmp_path / "p.txt").write_text("OPEN NOW\nCAFE\n", encoding="utf-8")
    mstr = tmp_path / "m.jsonl"
    mstr.write_text(json.dumps({"path": str(photo), "words": [{"text": "OPEN"}, {"text": "N0W"}]}) + "\n"
                    + json.dumps({"path": "x.png", "error": "no such file"}) + "\n", encoding="utf-8")
    peers = tmp_path / "p.jsonl"
    peers.write_text(json.dumps({"photo": str(photo), "engine": "rapidocr",
                                 "words": [{"text": "OPEN NOW"}, {"text": "CAFE"}]}) + "\n", encoding="utf-8")
    with tool_module("photo_words_table") as t:
        runs = t.load_runs([f"mine={mstr}"], [str(peers)])
        assert runs == {str(photo): {"mine": ["OPEN", "N0W"], "rapidocr": ["OPEN", "NOW", "CAFE"]}}
        text = t.table(runs, excerpt=80)
    assert "reference: 3 words" in text
    assert "| mine | 2 | 1/3 | 1/2 |" in text
    assert "| rapidocr | 3 | 3/3 | 3/3 |" in text


def test_torchvision_stand_in_holds_crafts_vgg_weights():
    """tools/peers_photo.py's torchvision stand-in builds the VGG16-BN layers EasyOCR's CRAFT weights load into."""
    import sys

    import pytest
    import torch

    models = pytest.importorskip("easyocr_en_models", reason="the peers extra (make peers) is not installed")
    from pathlib import Path

    weights = torch.load(Path(models.__file__).parent / "models" / "craft_mlt_25k.pth", map_location="cpu",
                         weights_only=True)
    saved = {k: v for k, v in sys.modules.items() if k.startswith("torchvision")}
    try:
        with tool_module("peers_photo") as t:
            if not t.install_torchvision_stand_in():
                pytest.skip("a working torchvision is installed: no stand-in needed")
            import torchvision

            features = torchvision.models.vgg16_bn(weights=None).features
            # CRAFT's slices take layers 0-38 of the features under their own indices (module.basenet.sliceN.I)
            ours = {f"{i}.{name}": p.shape for i, layer in enumerate(features) if i < 39
                    for name, p in layer.state_dict().items()}
            theirs = {k.split(".", 3)[3]: v.shape for k, v in weights.items()
                      if k.startswith("module.basenet.slice") and k.split(".")[2] != "slice5"}
            assert theirs and theirs == {k: v for k, v in ours.items() if k in theirs}
            assert set(theirs) == {k for k in ours if int(k.split(".")[0]) < 39}
            tensor = torchvision.transforms.ToTensor()(__import__("numpy").full((2, 3, 3), 255, dtype="uint8"))
            assert tensor.shape == (3, 2, 3) and float(tensor.max()) == 1.0
    finally:
        for k in [k for k in sys.modules if k.startswith("torchvision")]:
            del sys.modules[k]
        sys.modules.update(saved)

"""Packed word images: the same tensors as the LMDB path, usable as a training source, refused when
incomplete or packed at another size."""
from __future__ import annotations

import shutil

import pytest
from conftest import noise_png
import torch

from mstr.data.lmdb import LmdbDataset, LmdbWriter
from mstr.data.packed import PackedImages, lmdb_folders, pack_lmdbs, to_float
from mstr.errors import UserError
from mstr.preprocess import to_tensor


@pytest.fixture()
def synth_root(tmp_path):
    for lang, words in (("en", ["shop", "MEDICAL", "24x7"]), ("hi", ["दवा", "होटल"])):
        with LmdbWriter(tmp_path / "LMDB" / lang / "train_lmdb") as w:
            for i, word in enumerate(words):
                w.add(noise_png((40 + 9 * i, 20 + i), i), word, lang)
            w.commit()
    return tmp_path


def test_packed_equals_lmdb_path(synth_root, tmp_path):
    folders = lmdb_folders([synth_root], "train")
    assert [f.parent.name for f in folders] == ["en", "hi"]
    meta = pack_lmdbs(folders, tmp_path / "p", (32, 128), workers=1, progress=False)
    assert meta["count"] == 5
    packed = PackedImages(tmp_path / "p")
    assert packed.labels == ["shop", "MEDICAL", "24x7", "दवा", "होटल"]
    assert packed.langs == ["en"] * 3 + ["hi"] * 2
    ds = LmdbDataset(folders[1])
    want = to_tensor(ds[1][0], (32, 128))
    got = to_float(packed.image(4))
    assert got.shape == (3, 32, 128) and torch.equal(got, want)


def test_packed_training_source(synth_root, tmp_path):
    from mstr.bank import bank_entries, Bank
    from mstr.train.words import build_sources

    pack_lmdbs(lmdb_folders([synth_root], "train"), tmp_path / "p", (32, 128), progress=False)
    entries = bank_entries(["en", "hi"])
    bank = Bank(entries, torch.nn.functional.normalize(torch.randn(len(entries), 8), dim=1), meta={})
    parts = build_sources([{"name": "s", "packed": str(tmp_path / "p")}], bank, max_len=12, image_size=(32, 128),
                          langs=["en", "hi"])
    assert sorted((p.lang, len(p)) for p, _ in parts) == [("en", 3), ("hi", 2)]
    x, y, lang = parts[0][0][0]
    assert x.dtype == torch.float32 and x.shape == (3, 32, 128) and -1 <= x.min() and x.max() <= 1
    with pytest.raises(UserError, match="packed at 32x128.*--size 48x192"):
        build_sources([{"name": "s", "packed": str(tmp_path / "p")}], bank, max_len=12, image_size=(48, 192),
                      langs=["en"])


def test_incomplete_or_existing_pack_refused(synth_root, tmp_path):
    pack_lmdbs(lmdb_folders([synth_root], "train"), tmp_path / "p", (32, 128), progress=False)
    with pytest.raises(UserError, match="already holds"):
        pack_lmdbs(lmdb_folders([synth_root], "train"), tmp_path / "p", (32, 128), progress=False)
    shutil.copytree(tmp_path / "p", tmp_path / "q")
    (tmp_path / "q" / "meta.json").unlink()
    with pytest.raises(UserError, match="interrupted"):
        PackedImages(tmp_path / "q")
    with pytest.raises(UserError, match="neither an LMDB"):
        lmdb_folders([tmp_path / "q"], "train")

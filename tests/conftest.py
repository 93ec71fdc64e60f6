"""Shared fixtures and helpers: real system fonts (installed by `make setup`), the tools/ scripts, image
files (`png`, `noise_png`, `encode`), tiny random-weight bundles (`tiny_bundle`) for fast tests."""
from __future__ import annotations

import importlib.util
import io
import os
import struct
import sys
import zlib
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The previous default (v4: resnet Spotter + Refiner, 6 languages), kept for the tests that need a Refiner.
V4_BUNDLE = ROOT / "src" / "mstr" / "resources" / "models" / "v4"

# Readers default to bfloat16 on CPUs that have it (mstr.precision): the suite reads in float32 so
# that its readings, and the comparisons with ONNX and with stored figures, do not depend on the
# CPU CI runs on (subprocesses inherit it). tests/test_precision.py checks the default itself.
os.environ["MSTR_PRECISION"] = "fp32"


@contextmanager
def tool_module(name: str):
    """``tools/<name>.py`` imported as a module for the duration of the block."""
    spec = importlib.util.spec_from_file_location(f"_{name}_under_test", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="session")
def hi_fonts():
    from mstr.fonts import fonts_for_lang

    return fonts_for_lang("hi", "train")


@pytest.fixture(scope="session")
def deva_font_path(hi_fonts):
    noto = [f for f in hi_fonts if "NotoSansDevanagari-Regular" in f.path]
    return (noto or hi_fonts)[0].path


def dump_lmdb(path) -> dict[bytes, bytes]:
    """Every key and value of the LMDB at ``path`` (this process's shared handle released first)."""
    import lmdb

    from mstr.data.lmdb import release_env

    release_env(path)
    env = lmdb.open(str(path), readonly=True, lock=False)
    with env.begin() as txn:
        items = {bytes(k): bytes(v) for k, v in txn.cursor()}
    env.close()
    return items


def striped(size: tuple[int, int], colour: tuple[int, int, int]):
    """A stand-in word image: ``colour`` with a bar of the opposite colour across its middle (not one
    colour: a blank image reads as "no text" without running the model)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, colour)
    w, h = size
    ImageDraw.Draw(image).rectangle((w // 4, h // 3, 3 * w // 4, 2 * h // 3), fill=tuple(255 - c for c in colour))
    return image


# -- image files -------------------------------------------------------------------------------------

def encode(image, fmt: str = "PNG", **kwargs) -> bytes:
    """``image`` (a PIL image) as the bytes of an image file in ``fmt``."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def png(colour=255, size: tuple[int, int] = (40, 12), mode: str = "RGB") -> bytes:
    """A one-colour PNG file: ``colour`` is a tuple, or an int (a grey level in RGB, the value otherwise)."""
    from PIL import Image

    if isinstance(colour, int) and mode == "RGB":
        colour = (colour, colour, colour)
    return encode(Image.new(mode, size, colour))


def noise_png(size: tuple[int, int], rng=0) -> bytes:
    """An RGB PNG file of uniform noise, ``size`` = (width, height); ``rng`` a seed or a numpy Generator."""
    import numpy as np
    from PIL import Image

    w, h = size
    return encode(Image.fromarray(np.random.default_rng(rng).integers(0, 256, (h, w, 3), dtype=np.uint8)))


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims ``width``×``height`` pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# -- tiny random models ------------------------------------------------------------------------------

TINY_SPOTTER = dict(d_model=32, widths=(8, 8, 16, 16), dec_layers=1, heads=2)
TINY_REFINER = dict(d_model=32, layers=1, heads=2, channels=(8, 16, 16))


def tiny_bank(langs=("en", "hi"), dim: int = 32, seed: int | None = 0):
    """A bank of ``langs`` with random unit vectors (torch seeded with ``seed`` first unless None)."""
    import torch
    import torch.nn.functional as F

    from mstr.bank import bank_entries, build_bank

    if seed is not None:
        torch.manual_seed(seed)
    entries = bank_entries(list(langs))
    return build_bank(entries, F.normalize(torch.randn(len(entries), dim), dim=-1))


def tiny_bundle(folder, *, langs=("en", "hi"), dim: int = 32, max_len: int = 10, refiner: bool = True,
                seed: int | None = 0, bank=None, name: str = "tiny", **refiner_cfg) -> Path:
    """A random-weight small Spotter (+ Refiner, ``refiner_cfg`` overriding TINY_REFINER) bundle saved in
    ``folder``, for fast tests: torch seeded with ``seed``, then the bank (``tiny_bank`` unless given),
    the Spotter, the Refiner, in that order. Returns the bundle folder."""
    import torch

    from mstr.bank import PAD_ID
    from mstr.bundle import save_bundle
    from mstr.models.refiner import Refiner, RefinerConfig
    from mstr.models.spotter import Spotter, SpotterConfig

    if seed is not None:
        torch.manual_seed(seed)
    if bank is None:
        bank = tiny_bank(langs, dim, seed=None)
    spotter = Spotter(SpotterConfig(dim=bank.dim, max_len=max_len, **TINY_SPOTTER), bank.vectors, PAD_ID)
    ref = None
    if refiner:
        cfg = {**TINY_REFINER, **refiner_cfg}
        ref = Refiner(RefinerConfig(dim=bank.dim, max_len=max_len, **cfg), bank.vectors, PAD_ID)
    return save_bundle(folder, spotter=spotter, bank=bank, refiner=ref, name=name)


def demo_manifest(folder, n: int, lang: str = "en"):
    """The first ``n`` ``lang`` crops of ``samples/demo`` copied into ``folder`` with a manifest
    ``folder/train.jsonl`` (returned) whose root is ``folder``: a small real-image training source."""
    import json
    import shutil

    src = ROOT / "samples" / "demo"
    rows = [json.loads(line) for line in (src / "manifest.jsonl").open(encoding="utf-8")]
    rows = [r for r in rows if r["lang"] == lang][:n]
    for r in rows:
        (folder / r["path_rel"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / r["path_rel"], folder / r["path_rel"])
    manifest = folder / "train.jsonl"
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return manifest


def _toy_pool(folder: Path, deva_font_path: str, second: str) -> Path:
    """A two-font Devanagari pool: one train design, one held out (files copied, records made)."""
    import json
    import shutil

    from mstr import fonts as F
    from mstr.fonts import pool as fontpool
    from mstr.fonts.discover import read_font_file

    folder.mkdir()
    recs = []
    for name, src, split in (("a.ttf", deva_font_path, "train"), ("b.ttf", second, "heldout")):
        shutil.copy(src, folder / name)
        face = read_font_file(str(folder / name))[0]
        recs.append({"file": name, "family": face["family"], "design": F.design_of(face["family"]),
                     "style": face["style"], "script": "Deva", "langs": ["hi"], "split": split,
                     "licence": "OFL-1.1", "source": "test", "cps": face["cps"], "ot": face["ot"],
                     "lacks": {"hi": "₹"} if split == "train" else {}, "bytes": 1000})
    (folder / fontpool.POOL_FILE).write_text(json.dumps(
        {"version": fontpool.POOL_VERSION, "fonts": recs, "rejected": {"Deva": [{"font": "x"}]}}))
    return folder


@pytest.fixture
def toy_pool(tmp_path, deva_font_path, hi_fonts):
    """A two-font Devanagari pool (``pool.json`` and the files) in ``tmp_path/pool``."""
    from mstr import fonts as F
    from mstr.fonts.discover import read_font_file

    other = next(f.path for f in hi_fonts if f.design != F.design_of(
        read_font_file(deva_font_path)[0]["family"]) and f.index == 0)
    return _toy_pool(tmp_path / "pool", deva_font_path, other)

"""Shared fixtures: real system fonts (installed by `make setup`), small specs, the tools/ scripts."""
from __future__ import annotations

import importlib.util
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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

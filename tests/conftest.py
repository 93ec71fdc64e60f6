"""Shared fixtures: real system fonts (installed by `make setup`) and small specs."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def hi_fonts():
    from mstr.synth.fonts import fonts_for_lang

    return fonts_for_lang("hi", "train")


@pytest.fixture(scope="session")
def deva_font_path(hi_fonts):
    noto = [f for f in hi_fonts if "NotoSansDevanagari-Regular" in f.path]
    return (noto or hi_fonts)[0].path

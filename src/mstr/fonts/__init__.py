"""Fonts as mstr sees them: discovery, charset coverage, designs and the train / held-out split.

* :mod:`mstr.fonts.info` — :class:`FontInfo` (one face), :func:`design_of` (the split's unit);
* :mod:`mstr.fonts.discover` — every face under the system font folders, cmaps cached on disk;
* :mod:`mstr.fonts.coverage` — which fonts cover and may render a language;
* :mod:`mstr.fonts.split` — the deterministic train / held-out split by design, and
  :func:`fonts_for_lang`, the fonts a renderer draws from;
* :mod:`mstr.fonts.pool` — the training font pool folder (``pool.json``).

Used by synthesis, the bank map (:mod:`mstr.viz`) and data inspection; the tables ``mstr synth
fonts`` prints are in :mod:`mstr.synth.font_report`. Reading text never imports this package.
"""
from __future__ import annotations

from mstr.fonts.coverage import excluded_fonts, lang_coverage, missing_chars
from mstr.fonts.discover import default_font_dirs, discover_fonts, font_file
from mstr.fonts.info import DOTTED_CIRCLE, SPLITS, FontInfo, design_of
from mstr.fonts.split import fonts_for_lang, split_designs

__all__ = [
    "FontInfo",
    "design_of",
    "discover_fonts",
    "default_font_dirs",
    "font_file",
    "lang_coverage",
    "missing_chars",
    "fonts_for_lang",
    "excluded_fonts",
    "split_designs",
    "DOTTED_CIRCLE",
    "SPLITS",
]

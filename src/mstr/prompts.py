"""The mCLIP prompt vocabulary, built from the charsets and the bank's special tokens.

:class:`mstr.models.mclip.PromptTokenizer` knows how a prompt is made but not which languages
and characters exist: the model code imports neither the charsets nor the bank. This module
hands it those tables.
"""
from __future__ import annotations

from typing import Sequence

from mstr.bank import SPECIALS
from mstr.charsets import ALL_LANGS, load_charset
from mstr.models.mclip import PromptTokenizer

__all__ = ["prompt_tokenizer"]


def prompt_tokenizer(langs: Sequence[str] | None = None, max_len: int = 12) -> PromptTokenizer:
    """The tokenizer over the charsets of ``langs`` (default: every supported language)."""
    langs = list(langs or ALL_LANGS)
    chars = dict.fromkeys(ch for lang in langs for ch in load_charset(lang).chars())
    return PromptTokenizer.build(langs, [*SPECIALS, *chars], max_len=max_len)

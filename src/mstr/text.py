"""The one text-normalisation function used for labels, predictions and metrics."""
from __future__ import annotations

import unicodedata

__all__ = ["normalize"]


def normalize(text: str) -> str:
    """Return ``text`` in Unicode NFKD with every whitespace character removed.

    Nothing else is changed: no case folding, no ASCII folding, no character is dropped.
    NFKD splits precomposed Indic vowel signs and nukta letters into their parts
    (Tamil ொ → ெ + ா, क़ → क + ़), which is the form the charsets and the bank hold.
    """
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not ch.isspace())

"""What a recognizer returns for one image."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Prediction"]


@dataclass
class Prediction:
    """The reading of one word image.

    ``text``: the word, normalised (NFKD, no whitespace); ``confidence``: in [0, 1], the product
    of the per-character probabilities (end-of-sequence included); ``script``: ISO 15924 code of
    the script holding most retrieved script-specific characters (None for digits/punctuation
    only, or when unreadable); ``chars``: ``(character, probability)`` per output position;
    ``topk``: per position the K best ``(token, score)`` of the Spotter (``<eos>`` included);
    ``error``: set (and text empty) when the image could not be read; ``no_text``: True (and text
    empty, confidence 0) when the image is blank — one colour, nothing to read — so no model ran;
    ``lexicon_from``: the model's reading when a lexicon replaced it by ``text`` (None otherwise;
    ``confidence``, ``chars`` and ``topk`` are then those of the model's reading; :mod:`mstr.reading.lexicon`);
    ``turned``: 90 or 270 when the image, much taller than wide, read best turned by that many degrees
    counter-clockwise (``turn_tall`` of :func:`mstr.inputs.read_images`; 0 otherwise).
    """

    text: str
    confidence: float
    script: str | None
    chars: list[tuple[str, float]] = field(default_factory=list)
    topk: list[list[tuple[str, float]]] = field(default_factory=list)
    error: str | None = None
    no_text: bool = False
    lexicon_from: str | None = None
    turned: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

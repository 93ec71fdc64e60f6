"""Text / background colour pairs measured on real word crops (recipe v2).

``mstr/resources/synth/colour_pairs.json`` holds ~128 cluster centres of (text RGB, background
RGB) pairs measured on real English scene-text crops by ``tools/colour_pairs.py`` (its
``provenance`` says which crops and how). :class:`ColourPairs` draws a pair by weight and
jitters it by the spread measured within its cluster.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = ["ColourPairs", "load_colour_pairs"]


class ColourPairs:
    """Weighted colour pairs: ``text``/``bg`` float32 ``P, 3`` in [0, 1], ``weight`` ``P``, ``jitter`` ``P``."""

    def __init__(self, data: dict) -> None:
        pairs = data["pairs"]
        if not pairs:
            raise ValueError("colour pair file holds no pairs")
        self.text = np.array([p["text"] for p in pairs], np.float32) / 255.0
        self.bg = np.array([p["bg"] for p in pairs], np.float32) / 255.0
        w = np.array([p["weight"] for p in pairs], np.float64)
        self.weight = w / w.sum()
        self.cdf = np.cumsum(self.weight)
        self.jitter = np.array([p.get("jitter", 8.0) for p in pairs], np.float32) / 255.0
        self.provenance = data.get("provenance", {})

    def __len__(self) -> int:
        return len(self.weight)

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(text RGB, background RGB), float32 in [0, 1]; sometimes swapped (light on dark ↔ dark on light)."""
        i = min(int(np.searchsorted(self.cdf, rng.random())), len(self.cdf) - 1)
        j = rng.normal(0.0, self.jitter[i], (2, 3)).astype(np.float32)
        text, bg = np.clip(self.text[i] + j[0], 0, 1), np.clip(self.bg[i] + j[1], 0, 1)
        return (bg, text) if rng.random() < 0.15 else (text, bg)


@lru_cache(maxsize=1)
def load_colour_pairs() -> ColourPairs:
    """The shipped colour pairs (cached per process)."""
    path = resources.files("mstr").joinpath("resources", "synth", "colour_pairs.json")
    return ColourPairs(json.loads(path.read_text()))

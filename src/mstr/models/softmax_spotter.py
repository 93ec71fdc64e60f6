"""Softmax-head Spotter: the ablation of retrieval from the frozen bank.

Same encoder (:class:`~mstr.models.spotter.WordEncoder`), feature tokens and parallel position
decoder as the :class:`~mstr.models.spotter.Spotter`; only the head differs: each position's
decoder state goes through a linear layer to ``num_classes`` logits (one per row of the bank's
token table, so the labels are the Spotter's) and a softmax, instead of an L2-normalised
embedding scored by scaled cosine against frozen prototypes. A new language therefore needs new
output rows *and* training, where the Spotter only needs new bank rows.

The output is a :class:`~mstr.models.spotter.SpotterOutput` so that the Spotter's reader
(:class:`mstr.reading.recognizer.Recognizer`, without a Refiner) reads with it unchanged; its
``embeddings`` are the decoder states ``B, L, d_model`` (not unit vectors, no bank behind them).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mstr.models.config import JsonConfig
from mstr.models.spotter import PositionReader, SpotterOutput

__all__ = ["SoftmaxSpotterConfig", "SoftmaxSpotter"]


@dataclass
class SoftmaxSpotterConfig(JsonConfig):
    num_classes: int = 0                 # rows of the bank's token table (specials included)
    d_model: int = 192
    widths: tuple[int, ...] = (32, 64, 128, 192)
    image_size: tuple[int, int] = (32, 128)
    max_len: int = 26
    dec_layers: int = 2
    heads: int = 4
    topk: int = 5
    dropout: float = 0.0


class SoftmaxSpotter(PositionReader):
    """``B, 3, 32, 128`` → logits ``B, L, N`` over the token table (``<pad>`` never decoded)."""

    def __init__(self, cfg: SoftmaxSpotterConfig, pad_id: int = 1) -> None:
        if cfg.num_classes <= pad_id:
            raise ValueError(f"num_classes must be the bank's table size, got {cfg.num_classes}")
        super().__init__(cfg, cfg.num_classes, pad_id)
        self.classifier = nn.Linear(cfg.d_model, cfg.num_classes)

    def forward(self, images: torch.Tensor) -> SpotterOutput:
        h, feats = self.read_positions(images)
        return SpotterOutput(embeddings=h, logits=self.classifier(h).float(), features=feats)

"""CRNN-CTC baseline: a VGG-like CNN, a BiLSTM and a linear CTC head over the bank's token table.

The architecture follows the CRNN of deep-text-recognition-benchmark (VGG feature extractor →
BiLSTM sequence model → CTC prediction), scaled down to the Spotter's parameter budget
(≈ 0.85 M with the defaults and a 6-language bank of 445 entries):

* CNN over ``B, 3, 32, 128``: two 2×2 max-pools, then two (2, 1) pools that halve the height
  only, and a final 2×2 convolution without padding → one row of ``T = W/4 − 1`` columns
  (31 for a 128-pixel-wide input). Batch norm follows every convolution (DTRB puts it on two of
  the seven; on every one it trains faster from scratch on a CPU budget).
* ``rnn_layers`` bidirectional LSTMs, each followed by a linear map back to ``hidden``.
* A linear head over ``num_classes = N + 1`` classes: class ``i < N`` is row ``i`` of the bank's
  token table (the same label ids as the Spotter), class ``N`` is the CTC **blank**. The bank's
  specials (``<eos>``, ``<pad>``) are never targets and never decoded.

Decoding is greedy (:func:`ctc_greedy`): best class per column, repeats collapsed, blanks removed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from mstr.models.config import JsonConfig

__all__ = ["CRNNConfig", "CRNN", "ctc_greedy", "CtcReading"]


@dataclass
class CRNNConfig(JsonConfig):
    num_classes: int = 0                 # bank entries + 1 (the blank, last)
    widths: tuple[int, ...] = (32, 64, 96, 128)
    hidden: int = 96
    rnn_layers: int = 2
    image_size: tuple[int, int] = (32, 128)
    max_len: int = 26                    # label capacity used for training (code points + 1), as the Spotter's

    @property
    def blank(self) -> int:
        return self.num_classes - 1


def _conv(cin: int, cout: int, k: int = 3, p: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, 1, p, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class _BiLSTM(nn.Module):
    """``B, T, C_in`` → ``B, T, C_out``: a bidirectional LSTM and a linear map of both directions."""

    def __init__(self, cin: int, hidden: int, cout: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(cin, hidden, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(2 * hidden, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.rnn(x)[0])


class CRNN(nn.Module):
    """``B, 3, H, W`` images → ``B, T, num_classes`` CTC logits (``T = W/4 − 1``)."""

    def __init__(self, cfg: CRNNConfig) -> None:
        super().__init__()
        if cfg.num_classes < 3:
            raise ValueError(f"num_classes must count the bank's entries plus the blank, got {cfg.num_classes}")
        h, w = cfg.image_size
        if h != 32:
            raise ValueError(f"the CRNN's CNN reduces a height of 32 to 1, got image height {h}")
        c0, c1, c2, c3 = cfg.widths
        self.cfg = cfg
        self.cnn = nn.Sequential(
            *_conv(3, c0), nn.MaxPool2d(2, 2),                                  # 16 × W/2
            *_conv(c0, c1), nn.MaxPool2d(2, 2),                                 # 8 × W/4
            *_conv(c1, c2), *_conv(c2, c2), nn.MaxPool2d((2, 1), (2, 1)),       # 4 × W/4
            *_conv(c2, c3), *_conv(c3, c3), nn.MaxPool2d((2, 1), (2, 1)),       # 2 × W/4
            *_conv(c3, c3, k=2, p=0))                                           # 1 × (W/4 − 1)
        layers: list[nn.Module] = []
        cin = c3
        for _ in range(cfg.rnn_layers):
            layers.append(_BiLSTM(cin, cfg.hidden, cfg.hidden))
            cin = cfg.hidden
        self.rnn = nn.Sequential(*layers)
        self.head = nn.Linear(cin, cfg.num_classes)

    def columns(self) -> int:
        """``T``: output columns for the configured image width."""
        return self.cfg.image_size[1] // 4 - 1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        f = self.cnn(images)                       # B, C, 1, T
        seq = f.squeeze(2).transpose(1, 2)         # B, T, C
        return self.head(self.rnn(seq))            # B, T, num_classes


@dataclass
class CtcReading:
    """A greedy CTC reading: ``ids`` (class ids of the characters), ``probs`` (each character's
    peak probability over its run of columns) and ``confidence`` (the product of every run's peak
    probability, blank runs included)."""

    ids: list[int]
    probs: list[float]
    confidence: float


def ctc_greedy(logits: torch.Tensor, blank: int, never: Sequence[int] = ()) -> list[CtcReading]:
    """Greedy CTC decoding of ``B, T, C`` logits.

    Per column the best class (classes in ``never`` excluded); runs of the same class collapse to
    one; blank runs are dropped. A character's probability is the highest softmax probability of
    its run; the confidence multiplies the peak of every run (blank runs included), so a reading
    that is unsure where characters stop is unsure overall.
    """
    logits = logits.float()
    if never:
        logits = logits.index_fill(-1, torch.tensor(list(never), device=logits.device), float("-inf"))
    probs, best = logits.softmax(-1).max(-1)
    out = []
    for b_ids, b_p in zip(best.tolist(), probs.tolist()):
        ids: list[int] = []
        ps: list[float] = []
        conf = 1.0
        prev, peak = None, 0.0
        for i, p in zip(b_ids, b_p):
            if i != prev:
                if prev is not None:
                    conf *= peak
                    if prev != blank:
                        ids.append(prev)
                        ps.append(peak)
                prev, peak = i, p
            else:
                peak = max(peak, p)
        if prev is not None:
            conf *= peak
            if prev != blank:
                ids.append(prev)
                ps.append(peak)
        out.append(CtcReading(ids=ids, probs=ps, confidence=conf))
    return out

"""Decoding the Spotter: logits → readings → :class:`~mstr.reading.prediction.Prediction` objects.

Shared by every reader (torch, ONNX, the softmax baseline): :func:`spotter_decode` (argmax and
top-K per position, ``<pad>`` never an output), :func:`cut_at_eos` (a reading ends at the first
``<eos>``), :func:`sequence_logprob` (a whole reading's log-probability, end of word included) and
:func:`to_predictions`, the one Prediction builder. Imports torch and the bank, no training code.
"""
from __future__ import annotations

from typing import Sequence

import torch

from mstr.bank import EOS_ID, PAD_ID, Bank
from mstr.reading.prediction import Prediction

__all__ = ["Reading", "spotter_decode", "log_probs", "scored", "sequence_logprob", "cut_at_eos", "to_predictions"]

#: a reading: character ids (no EOS), their probabilities, confidence (EOS probability included)
Reading = tuple[list[int], list[float], float]


def spotter_decode(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``B, L, N`` logits → (argmax ids ``B, L``, their probs, top-K ids ``B, L, K``, top-K probs).

    ``<pad>`` is never an output."""
    probs = logits.float().index_fill(-1, torch.tensor([PAD_ID], device=logits.device), float("-inf")).softmax(-1)
    top_p, top_i = probs.topk(k, dim=-1)
    return top_i[..., 0], top_p[..., 0], top_i, top_p


def log_probs(logits: torch.Tensor) -> torch.Tensor:
    """``B, T, N`` logits → float log-probabilities with ``<pad>`` impossible."""
    return logits.float().index_fill(-1, torch.tensor([PAD_ID], device=logits.device), float("-inf")).log_softmax(-1)


def scored(logp: torch.Tensor, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position log-probabilities ``B, T`` of each ``seqs[b]`` followed by EOS under ``logp``
    (0 past its end) and their sum ``B`` (−inf for a reading with no room left for EOS)."""
    b, t = logp.shape[:2]
    lens = [len(q) + 1 for q in seqs]
    target = torch.tensor([(q + [EOS_ID] + [EOS_ID] * t)[:t] for q in seqs], dtype=torch.long,
                          device=logp.device).reshape(b, t)
    live = torch.arange(t, device=logp.device)[None, :] < torch.tensor(lens, device=logp.device)[:, None]
    per = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1).masked_fill(~live, 0.0)
    total = per.sum(-1).masked_fill(torch.tensor(lens, device=logp.device) > t, float("-inf"))
    return per, total


def sequence_logprob(logits: torch.Tensor, seqs: list[list[int]]) -> torch.Tensor:
    """``B, T, N`` per-position logits → log-probability of each ``seqs[b]`` followed by EOS.

    Positions beyond ``T`` cannot be scored and count as impossible (−inf); ``<pad>`` is never
    an output."""
    return scored(log_probs(logits), seqs)[1]


def cut_at_eos(ids: Sequence[int], probs: Sequence[float]) -> Reading:
    """Characters before the first EOS, their probs, and the confidence (EOS prob included)."""
    out_ids, out_p, conf = [], [], 1.0
    for i, p in zip(ids, probs):
        conf *= p
        if i == EOS_ID:
            break
        out_ids.append(i)
        out_p.append(p)
    return out_ids, out_p, conf


def to_predictions(bank: Bank, readings: Sequence[Reading], top_i: torch.Tensor, top_p: torch.Tensor,
                   tokens: Sequence[str] | None = None, power: float = 1.0) -> list[Prediction]:
    """One Prediction per reading, with the Spotter's top-K per position (``top_i``, ``top_p``:
    ``B, L, K``) up to its first EOS, probabilities rounded to 4 decimals; the tensors become
    nested lists once per batch. ``tokens``: the bank's token per row (computed when not given);
    ``power``: the bundle's confidence calibration (:mod:`mstr.reading.calibration`), applied to
    the word confidence only."""
    tokens = [e.token for e in bank.entries] if tokens is None else tokens
    first = top_i[..., 0] == EOS_ID                                     # B, L
    n_top = torch.where(first.any(1), first.int().argmax(1) + 1, first.shape[1]).tolist()
    top_ids = top_i.tolist()
    top_probs = torch.round(top_p.double(), decimals=4).tolist()
    preds = []
    for (char_ids, char_p, conf), rows_i, rows_p, m in zip(readings, top_ids, top_probs, n_top):
        topk = [list(zip([tokens[i] for i in rows_i[t]], rows_p[t])) for t in range(m)]
        preds.append(Prediction(text=bank.decode(char_ids), confidence=float(conf) ** power,
                                script=bank.script_vote(char_ids),
                                chars=[(tokens[i], float(q)) for i, q in zip(char_ids, char_p)], topk=topk))
    return preds

"""CTC pieces shared by the training systems: targets from padded bank-id labels, the loss, and the
word accuracy of greedy CTC readings (the CRNN baseline and the auxiliary column readers)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mstr.bank import EOS_ID, PAD_ID
from mstr.models.crnn import ctc_greedy
from mstr.train.words import IGNORE

__all__ = ["ctc_targets", "ctc_loss", "ctc_word_accuracy"]


def ctc_targets(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``B, L`` padded targets (bank ids, ``<eos>``, then IGNORE) → (concatenated ids, lengths)."""
    keep = y.ne(IGNORE) & y.ne(EOS_ID)
    return y[keep], keep.sum(1)


def ctc_loss(logp: torch.Tensor, y: torch.Tensor, blank: int) -> torch.Tensor:
    """CTC loss of ``T, B, C`` log-probabilities over every column against ``B, L`` padded targets."""
    targets, lengths = ctc_targets(y)
    t_len = torch.full((y.shape[0],), logp.shape[0], dtype=torch.long, device=y.device)
    return F.ctc_loss(logp, targets, t_len, lengths, blank=blank, zero_infinity=True)


def ctc_word_accuracy(logits: torch.Tensor, y: torch.Tensor, blank: int) -> torch.Tensor:
    """Word accuracy of greedy CTC readings of ``B, T, C`` logits against the targets."""
    readings = ctc_greedy(logits.detach(), blank, never=(EOS_ID, PAD_ID))
    hits = []
    for r, row in zip(readings, y.tolist()):
        want = [i for i in row if i != IGNORE]
        want = want[: want.index(EOS_ID)] if EOS_ID in want else want
        hits.append(float(r.ids == want))
    return torch.tensor(hits).mean()

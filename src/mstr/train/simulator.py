"""The Spotter-output simulator: fake top-K hypotheses made from ground truth, erring the way a
retrieval Spotter errs, so the Refiner can be trained before (or beside) real Spotter outputs.

Per word: characters are substituted by one of their nearest neighbours in the bank (cosine of
the prototypes, within the same script or Common), diacritics are dropped or spurious ones added,
and the sequence is shifted by a deletion or a duplication. At each position the top-1 is the
(corrupted) character, the other K − 1 are its nearest neighbours — with the true character
among them where it was substituted, as a real Spotter usually ranks it — and probabilities are
drawn high for kept characters and lower for corrupted ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from mstr.bank import EOS_ID, Bank
from mstr.scripts import COMMON_SCRIPT

__all__ = ["SimulatorConfig", "SpotterSimulator"]


@dataclass
class SimulatorConfig:
    p_sub: float = 0.08          # per character: replaced by a bank neighbour
    p_drop_mark: float = 0.08    # per diacritic: dropped
    p_extra_mark: float = 0.03   # per letter: a spurious diacritic of the same script after it
    p_shift: float = 0.1         # per word: one deletion or duplication (misaligned positions)
    p_true_in_topk: float = 0.8  # a substituted character still appears among the K
    neighbours: int = 8


class SpotterSimulator:
    """``__call__(targets)`` → ``(ids B×L×K, probs B×L×K)`` from ``B×L`` ground-truth ids
    (characters, then EOS, then anything negative)."""

    def __init__(self, bank: Bank, k: int, max_len: int, cfg: SimulatorConfig | None = None) -> None:
        self.cfg = cfg or SimulatorConfig()
        self.k, self.max_len = k, max_len
        v = bank.vectors
        scripts = [e.script for e in bank.entries]
        special = torch.tensor([e.subtype == "special" for e in bank.entries])
        same = torch.tensor([[a == b or COMMON_SCRIPT in (a, b) for b in scripts] for a in scripts])
        sims = (v @ v.t()).masked_fill(~same, -2.0).masked_fill(special[None, :], -3.0)
        sims.fill_diagonal_(-4.0)
        m = max(self.cfg.neighbours, k)
        self.nn = sims.topk(m, dim=1).indices                 # N, m
        self.is_mark = torch.tensor([e.subtype == "diacritic" for e in bank.entries])
        self.marks_of: dict[str, torch.Tensor] = {}
        for s in set(scripts):
            rows = [i for i, e in enumerate(bank.entries) if e.script == s and e.subtype == "diacritic"]
            if rows:
                self.marks_of[s] = torch.tensor(rows)
        self.script_of_row = scripts

    def _corrupt(self, chars: list[int], g: torch.Generator) -> tuple[list[int], list[bool], list[int]]:
        c = self.cfg
        out, ok, truth = [], [], []
        for ch in chars:
            r = float(torch.rand((), generator=g))
            if self.is_mark[ch] and r < c.p_drop_mark:
                continue
            if float(torch.rand((), generator=g)) < c.p_sub:
                j = int(torch.randint(self.nn.shape[1], (), generator=g))
                out.append(int(self.nn[ch, j])), ok.append(False), truth.append(ch)
            else:
                out.append(ch), ok.append(True), truth.append(ch)
            marks = self.marks_of.get(self.script_of_row[ch])
            if marks is not None and not self.is_mark[ch] and float(torch.rand((), generator=g)) < c.p_extra_mark:
                out.append(int(marks[torch.randint(len(marks), (), generator=g)])), ok.append(False), truth.append(-1)
        if out and float(torch.rand((), generator=g)) < c.p_shift:
            p = int(torch.randint(len(out), (), generator=g))
            if float(torch.rand((), generator=g)) < 0.5:
                del out[p], ok[p], truth[p]
            else:
                out.insert(p, out[p]), ok.insert(p, False), truth.insert(p, -1)
        return out, ok, truth

    def __call__(self, targets: torch.Tensor, g: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        g = g or torch.Generator().manual_seed(int(torch.randint(2**31 - 1, ())))
        b, L = targets.shape[0], self.max_len
        ids = torch.full((b, L, self.k), EOS_ID, dtype=torch.long)
        probs = torch.zeros(b, L, self.k)
        for i in range(b):
            row = targets[i].tolist()
            chars = row[: row.index(EOS_ID)] if EOS_ID in row else [t for t in row if t >= 0]
            seq, ok, truth = self._corrupt(chars, g)
            seq, ok, truth = seq[: L - 1], ok[: L - 1], truth[: L - 1]
            for t, (ch, good, true) in enumerate(zip(seq, ok, truth)):
                alts = [int(a) for a in self.nn[ch] if int(a) != ch][: self.k - 1]
                if not good and true >= 0 and float(torch.rand((), generator=g)) < self.cfg.p_true_in_topk:
                    alts = [a for a in alts if a != true]
                    alts.insert(int(torch.randint(self.k - 1, (), generator=g)), true)
                ids[i, t] = torch.tensor([ch] + alts[: self.k - 1])
                top = float(torch.empty(()).uniform_(0.6, 0.99, generator=g)) if good else \
                    float(torch.empty(()).uniform_(0.25, 0.7, generator=g))
                rest = torch.rand(self.k - 1, generator=g).sort(descending=True).values
                rest = rest / rest.sum() * (1 - top) * float(torch.empty(()).uniform_(0.5, 1.0, generator=g))
                probs[i, t, 0] = top
                probs[i, t, 1:] = rest
            n = len(seq)
            probs[i, n:, 0] = torch.empty(L - n).uniform_(0.8, 1.0, generator=g)
            if n < L:
                ids[i, n:, 1:] = self.nn[EOS_ID, : self.k - 1] if EOS_ID < self.nn.shape[0] else EOS_ID
        return ids, probs

"""Which reading wins, the Spotter's or the Refiner's: :func:`refine_readings`, shared by the torch
(:mod:`mstr.reading.recognizer`) and ONNX (:mod:`mstr.onnx.runtime`) readers, which provide the
Refiner's two primitives (teacher-forced passes and greedy decoding). The policies, modes and gates
are :mod:`mstr.reading.refine_policy`; :func:`forced_chunks` groups teacher-forced rows into calls.

Imports torch and the bank, no training code.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from mstr.bank import EOS_ID
from mstr.reading.decode import Reading, cut_at_eos, log_probs, scored, sequence_logprob
from mstr.reading.refine_policy import resolve_refine_mode

__all__ = ["refine_readings", "within_one_edit", "forced_chunks", "FORCED_CHUNK", "FORCED_CALL_COST",
           "FORCED_ROW_COST"]

#: most rows per teacher-forced Refiner call in the parallel refine mode
FORCED_CHUNK = 64
#: the cost model that groups a batch's teacher-forced rows into calls (:func:`forced_chunks`), in
#: units of one row-position (one row's decoder and scoring at one position): a call costs about 80
#: of them whatever its size and a row about 5, measured with the shipped 96-wide Refiner on 2 CPU
#: threads (64 rows × 4 positions 7.5 ms, 32 × 8 7.5 → 5.6 ms, 64 × 16 16.2 ms)
FORCED_CALL_COST = 80
FORCED_ROW_COST = 5


def forced_chunks(widths: Sequence[int], max_rows: int = FORCED_CHUNK) -> list[tuple[int, int]]:
    """Split rows sorted by ``widths`` (ascending: each row's number of input tokens) into
    consecutive chunks ``(start, end)``, one Refiner call each (or several of at most ``max_rows``
    rows), every chunk padded to its widest row: the split with the least cost under
    :data:`FORCED_CALL_COST` and :data:`FORCED_ROW_COST` — one call for a batch of similar
    lengths, several when a few long words would pad many short ones."""
    if list(widths) != sorted(widths):
        raise ValueError("forced_chunks needs rows sorted by width")
    if len(widths) == 0:
        return []
    bounds = [0] + [i for i in range(1, len(widths)) if widths[i] != widths[i - 1]] + [len(widths)]
    best = [0.0] + [float("inf")] * (len(bounds) - 1)
    back = [0] * len(bounds)
    for j in range(1, len(bounds)):
        end, width = bounds[j], widths[bounds[j] - 1] + 1
        for i in range(j):
            rows = end - bounds[i]
            cost = best[i] + -(-rows // max_rows) * FORCED_CALL_COST + rows * (FORCED_ROW_COST + width)
            if cost < best[j]:
                best[j], back[j] = cost, i
    chunks = []
    j = len(bounds) - 1
    while j > 0:
        chunks.append((bounds[back[j]], bounds[j]))
        j = back[j]
    return chunks[::-1]

def within_one_edit(a: Sequence[int], b: Sequence[int]) -> bool:
    """Whether ``a`` and ``b`` are at most one substitution, insertion or deletion apart."""
    if abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < len(a) and i < len(b) and a[i] == b[i]:
        i += 1
    return list(a[i + 1:]) == list(b[i + 1:]) or list(a[i:]) == list(b[i + 1:]) or list(a[i + 1:]) == list(b[i:])


class _Pass:
    """One teacher-forced pass of the Refiner over readings ``seqs``: per row the argmax at every
    position, the probabilities of the reading's own characters, its confidence and log-probability."""

    def __init__(self, logits: torch.Tensor, seqs: list[list[int]]) -> None:
        logp = log_probs(logits)
        per, total = scored(logp, seqs)
        self.width = logp.shape[1]
        best, argmax = logp.max(-1)
        self.argmax, self.best = argmax.tolist(), best.tolist()   # per position: argmax and its log-probability
        self.logprob = total.tolist()
        self.per = per.tolist()                                  # log-probabilities of the reading's own tokens
        self.own = [[math.exp(v) for v in row[:len(q)]] for row, q in zip(self.per, seqs)]
        self.conf = [math.exp(t) for t in self.logprob]  # exp(−inf) = 0

    def fixed(self, row: int, seq: list[int]) -> bool:
        """Whether the Refiner, teacher-forced on ``seq``, reproduces it (end of word included):
        then ``seq`` is its greedy reading."""
        return len(seq) < self.width and self.argmax[row][:len(seq) + 1] == seq + [EOS_ID]


def _first_difference(row: list[int], seq: list[int]) -> int | None:
    """The first position where the argmax ``row`` (teacher-forced on ``seq``) is not ``seq``
    followed by EOS; None when they agree on every scored position."""
    target = seq + [EOS_ID]
    return next((t for t in range(min(len(target), len(row))) if row[t] != target[t]), None)


def _edit1_candidates(seq: list[int], j: int, x: int, max_len: int) -> list[list[int]]:
    """The readings one edit from ``seq`` that greedy decoding can produce when it follows ``seq``
    up to position ``j`` and emits ``x`` there (``x`` ≠ ``seq[j]``): ``x`` substituted for or
    inserted before ``seq[j]``, or ``seq[j]`` deleted when ``x`` is the character after it (EOS
    after the last). A reading one edit from ``seq`` whose first difference from it is at ``j``
    is one of these. The first is the likeliest (substitution when possible); readings with no
    room left for EOS are left out."""
    target = seq + [EOS_ID]
    cands = []
    if x != EOS_ID:
        cands += [seq[:j] + [x] + seq[j + 1:], seq[:j] + [x] + seq[j:]]
    if j + 1 < len(target) and x == target[j + 1]:
        cands.append(seq[:j] + seq[j + 1:])
    out: list[list[int]] = []
    for c in cands:
        if c not in out and len(c) + 1 <= max_len:
            out.append(c)
    return out


def _token_at(seq: list[int], t: int) -> int:
    return seq[t] if t < len(seq) else EOS_ID


def refine_readings(spotted: list[Reading], s_logits: torch.Tensor, *, policy: str, mode: str,
                    forced: Callable[[list[int], list[list[int]]], torch.Tensor],
                    greedy: Callable[[], list[tuple[list[int], list[float]]]], max_len: int) -> list[Reading]:
    """The reading to return per word, the Spotter's (``spotted``) or the Refiner's, under
    ``policy`` and ``mode`` (:mod:`mstr.reading.refine_policy`). Shared by the torch and ONNX backends,
    which provide the Refiner's two primitives:

    * ``forced(rows, seqs)``: the Refiner teacher-forced on ``seqs`` (reading ``rows[i]`` of the
      batch reads ``seqs[i]``; rows may repeat), logits or log-probabilities ``len(rows), W + 1, N``
      with ``W = min(max len, max_len - 1)``;
    * ``greedy()``: its greedy decoding of every row, ``(ids, probs)`` lists (EOS-padded).

    ``s_logits`` are the Spotter's logits ``B, L, N``, which score readings with
    :func:`sequence_logprob` for the joint policies."""
    mode = resolve_refine_mode(policy, mode)
    n = len(spotted)
    s_seqs = [r[0] for r in spotted]
    s_logp: list[torch.Tensor] = []

    def spotter_logprob(rows: list[int], seqs: list[list[int]]) -> list[float]:
        """The Spotter's log-probability of ``seqs[i]`` as the reading of row ``rows[i]``."""
        if not s_logp:  # once per batch: every row's log-probabilities
            s_logp.append(log_probs(s_logits))
        return scored(s_logp[0][torch.tensor(rows, device=s_logits.device)], seqs)[1].tolist()

    # per row: the Refiner's reading (None: none the policy could take) and, when a pass has
    # already scored them, the Refiner's log-probabilities of it and of the Spotter's reading
    refined: list[Reading | None] = [None] * n
    ref_lp: list[float | None] = [None] * n
    ref_s: list[float | None] = [None] * n

    def settle(b: int, seq: list[int], ps: _Pass, i: int) -> None:
        refined[b] = (seq, ps.own[i], ps.conf[i])
        ref_lp[b] = ps.logprob[i]

    if mode == "greedy":
        refined = [cut_at_eos(i, q) for i, q in greedy()]
    else:
        first = _Pass(forced(list(range(n)), s_seqs), s_seqs)
        ref_s = list(first.logprob)
        firsts = [_first_difference(first.argmax[b], s_seqs[b]) for b in range(n)]
        for b in range(n):
            if firsts[b] is None and first.fixed(b, s_seqs[b]):  # the Refiner reads S itself
                settle(b, s_seqs[b], first, b)
        if policy == "joint-edit1":
            # the greedy reading when it is one edit from S: a candidate the Refiner reproduces
            cands = {b: _edit1_candidates(s_seqs[b], j, first.argmax[b][j], max_len)
                     for b, j in enumerate(firsts) if j is not None}
            # ... and that both models together could prefer to S: the Refiner's log-probability of a
            # candidate is at most that of its first j + 1 characters, which the first pass gave
            # (S's prefix, then x); a candidate whose bound does not beat S cannot be taken
            flat = [(b, c) for b, cs in cands.items() for c in cs]
            if flat:
                rows_ = [b for b, _ in flat]
                bound = spotter_logprob(rows_, [c for _, c in flat])
                need = sorted(set(rows_))
                sp_s = dict(zip(need, spotter_logprob(need, [s_seqs[b] for b in need])))
                keep: dict[int, list[list[int]]] = {b: [] for b in cands}
                for (b, c), sp_c in zip(flat, bound):
                    j = firsts[b]
                    if sp_c + sum(first.per[b][:j]) + first.best[b][j] + 1e-4 > sp_s[b] + ref_s[b]:  # (rounding)
                        keep[b].append(c)
                cands = keep
            todo = [(b, c[0]) for b, c in cands.items() if c]
            if todo:  # the likeliest candidate of each word; its pass also says which others remain possible
                ps = _Pass(forced([b for b, _ in todo], [c for _, c in todo]), [c for _, c in todo])
                rest = []
                for i, (b, c) in enumerate(todo):
                    if ps.fixed(i, c):
                        settle(b, c, ps, i)
                        continue
                    j = firsts[b]
                    nxt = ps.argmax[i][j + 1] if j + 1 < ps.width else None  # greedy's choice after x
                    rest += [(b, o) for o in cands[b][1:] if _token_at(o, j + 1) == nxt]
                if rest:
                    ps = _Pass(forced([b for b, _ in rest], [c for _, c in rest]), [c for _, c in rest])
                    for i, (b, c) in enumerate(rest):
                        if refined[b] is None and ps.fixed(i, c):
                            settle(b, c, ps, i)
        else:
            # the first pass's argmax as the Refiner's reading, scored by one more pass
            todo = []
            for b in range(n):
                if firsts[b] is not None:
                    row = first.argmax[b][:len(s_seqs[b]) + 1]
                    todo.append((b, row[:row.index(EOS_ID)] if EOS_ID in row else row))
            if todo:
                ps = _Pass(forced([b for b, _ in todo], [c for _, c in todo]), [c for _, c in todo])
                for i, (b, c) in enumerate(todo):
                    settle(b, c, ps, i)
    take = [False] * n
    if policy == "always":
        take = [r is not None for r in refined]
    elif policy == "confidence":
        take = [r is not None and r[2] >= s[2] for r, s in zip(refined, spotted)]
    else:
        score = [b for b in range(n) if refined[b] is not None and refined[b][0] != s_seqs[b]
                 and (policy == "joint" or within_one_edit(refined[b][0], s_seqs[b]))]
        if score:
            for known, seq_of in ((ref_lp, lambda b: refined[b][0]), (ref_s, lambda b: s_seqs[b])):
                need = [b for b in score if known[b] is None]
                if need:
                    seqs = [seq_of(b) for b in need]
                    for b, v in zip(need, sequence_logprob(forced(need, seqs), seqs).tolist()):
                        known[b] = v
            sp_r = spotter_logprob(score, [refined[b][0] for b in score])
            sp_s = spotter_logprob(score, [s_seqs[b] for b in score])
            for i, b in enumerate(score):
                take[b] = sp_r[i] + ref_lp[b] > sp_s[i] + ref_s[b]
    return [r if t else s for r, s, t in zip(refined, spotted, take)]  # type: ignore[misc]



"""Reading word images with a loaded bundle: Spotter (+ Refiner) over the frozen bank.

Imports no training, font or web code.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mstr.bank import EOS_ID, PAD_ID, Bank
from mstr.inputs import read_images
from mstr.reading.lang_decode import LangSettings, decode_words, leaves, mask_logits
from mstr.models.mclip import BasicBlock
from mstr.models.refiner import Refiner
from mstr.models.spotter import Spotter
from mstr.photo import PhotoReader
from mstr.reading.prediction import Prediction
from mstr.reading.refine_policy import (DEFAULT_REFINE_MODE, DEFAULT_REFINE_POLICY, DEFAULT_REFINE_RATIO, REFINE_MODES,
                                REFINE_POLICIES, RefineSettings, resolve_refine_mode)

__all__ = ["Recognizer", "read_images", "spotter_decode", "sequence_logprob", "fold_batchnorm", "refine_readings",
           "within_one_edit", "forced_chunks", "REFINE_POLICIES", "DEFAULT_REFINE_POLICY", "REFINE_MODES",
           "DEFAULT_REFINE_MODE"]

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

#: a reading: character ids (no EOS), their probabilities, confidence (EOS probability included)
Reading = tuple[list[int], list[float], float]


def spotter_decode(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``B, L, N`` logits → (argmax ids ``B, L``, their probs, top-K ids ``B, L, K``, top-K probs).

    ``<pad>`` is never an output."""
    probs = logits.float().index_fill(-1, torch.tensor([PAD_ID], device=logits.device), float("-inf")).softmax(-1)
    top_p, top_i = probs.topk(k, dim=-1)
    return top_i[..., 0], top_p[..., 0], top_i, top_p


def _log_probs(logits: torch.Tensor) -> torch.Tensor:
    """``B, T, N`` logits → float log-probabilities with ``<pad>`` impossible."""
    return logits.float().index_fill(-1, torch.tensor([PAD_ID], device=logits.device), float("-inf")).log_softmax(-1)


def _scored(logp: torch.Tensor, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
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
    return _scored(_log_probs(logits), seqs)[1]


def _fusable(conv: nn.Module, bn: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and type(bn) is nn.BatchNorm2d and bn.running_mean is not None
            and bn.num_features == conv.out_channels)


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """A copy of ``module`` for inference (eval mode, no gradients) with every ``BatchNorm2d`` that
    directly follows a ``Conv2d`` folded into it: in an ``nn.Sequential`` and in the residual
    :class:`~mstr.models.mclip.BasicBlock` (``conv1 → bn1``, ``conv2 → bn2``). ``module`` itself is
    not changed. The outputs are the same up to float rounding."""
    module = copy.deepcopy(module).eval()  # fuse_conv_bn_eval wants eval mode
    for m in list(module.modules()):
        if isinstance(m, nn.Sequential):
            for i in range(len(m) - 1):
                if _fusable(m[i], m[i + 1]):
                    m[i], m[i + 1] = fuse_conv_bn_eval(m[i], m[i + 1]), nn.Identity()
        elif isinstance(m, BasicBlock) and type(m).forward is BasicBlock.forward:
            for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
                if _fusable(getattr(m, conv), getattr(m, bn)):
                    setattr(m, conv, fuse_conv_bn_eval(getattr(m, conv), getattr(m, bn)))
                    setattr(m, bn, nn.Identity())
    return module.requires_grad_(False)


def _cut(ids: list[int], probs: list[float]) -> tuple[list[int], list[float], float]:
    """Characters before the first EOS, their probs, and the confidence (EOS prob included)."""
    out_ids, out_p, conf = [], [], 1.0
    for i, p in zip(ids, probs):
        conf *= p
        if i == EOS_ID:
            break
        out_ids.append(i)
        out_p.append(p)
    return out_ids, out_p, conf


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
        logp = _log_probs(logits)
        per, total = _scored(logp, seqs)
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
            s_logp.append(_log_probs(s_logits))
        return _scored(s_logp[0][torch.tensor(rows, device=s_logits.device)], seqs)[1].tolist()

    # per row: the Refiner's reading (None: none the policy could take) and, when a pass has
    # already scored them, the Refiner's log-probabilities of it and of the Spotter's reading
    refined: list[Reading | None] = [None] * n
    ref_lp: list[float | None] = [None] * n
    ref_s: list[float | None] = [None] * n

    def settle(b: int, seq: list[int], ps: _Pass, i: int) -> None:
        refined[b] = (seq, ps.own[i], ps.conf[i])
        ref_lp[b] = ps.logprob[i]

    if mode == "greedy":
        refined = [_cut(i, q) for i, q in greedy()]
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


class Recognizer(RefineSettings, LangSettings, PhotoReader):
    """``read(images)`` → one :class:`Prediction` per image; ``read_photo(image)`` → the words of a whole
    photo (:mod:`mstr.photo`). Build it with :func:`mstr.load`.

    With a Refiner, ``refine_policy`` says which reading is returned, the Spotter's or the
    Refiner's (see :data:`REFINE_POLICIES`), ``refine_mode`` how the Refiner's reading is found
    (``parallel`` teacher-forced passes, ``greedy`` step-by-step decoding, or ``auto``: parallel
    with ``joint-edit1``, where both give the same readings; see :mod:`mstr.reading.refine_policy`);
    ``refine_ratio`` (default 0.2) skips the Refiner for words whose every position has the
    Spotter's runner-up probability at most that times the best, and ``refine_below`` (default
    None: off) for words whose Spotter confidence is at least that. All four can be changed on a
    loaded Recognizer (``rec.refine_mode = "greedy"``). The confidence of a reading is the product
    of its characters' probabilities and the end-of-sequence probability.

    ``spotter`` and ``refiner`` are put in eval mode on ``device``. The Spotter reads through a
    copy made here, with BatchNorm folded into the convolutions (:func:`fold_batchnorm`) and, when
    ``channels_last`` (default: on CPU, where it is faster), in channels-last memory format; later
    changes to ``spotter``'s weights are therefore not seen: build a new Recognizer after changing
    them. Readings are those of ``spotter`` up to float rounding.

    Language-aware decoding (:mod:`mstr.reading.lang_decode`, :mod:`mstr.reading.lexicon`): ``read(images,
    langs=["hi"])`` reads with the rows of those languages only (+ Common); without a hint the
    script-consistency constraint (``script_consistency``, ``script_margin``) applies; a
    ``lexicon`` corrects readings to listed words."""

    def __init__(self, spotter: Spotter, bank: Bank, refiner: Refiner | None = None, *,
                 config: dict[str, Any] | None = None, name: str = "mstr", device: str = "cpu",
                 bf16: bool = False, refine_policy: str = DEFAULT_REFINE_POLICY,
                 refine_mode: str = DEFAULT_REFINE_MODE, refine_below: float | None = None,
                 refine_ratio: float | None = DEFAULT_REFINE_RATIO, channels_last: bool | None = None) -> None:
        self._init_refine(refine_policy, refine_mode, refine_below, refine_ratio)
        self.spotter = spotter.eval().to(device)
        self._reader = fold_batchnorm(self.spotter)
        if channels_last is None:
            channels_last = torch.device(device).type == "cpu"
        self._memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._reader.to(memory_format=self._memory_format)
        self.refiner = refiner.eval().to(device) if refiner is not None else None
        self.bank = bank
        self.config = config or {}
        self.name = name
        self.device = device
        self.bf16 = bf16
        self.langs = bank.langs()
        self.image_size = tuple(spotter.cfg.image_size)
        self._tokens = [e.token for e in bank.entries]

    def _autocast(self, part: str = "spotter"):
        """bfloat16 autocast when ``bf16`` — on the CPU for the Spotter, the Refiner's memory and its
        projection to keys and values (``part="cross"``) only: the decoder's products (``"decoder"``)
        are too small for bfloat16 to pay for the conversions (measured slower)."""
        return torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16,
                              enabled=not self._autocast_off(part))

    def _autocast_off(self, part: str) -> bool:
        if not self.bf16:
            return True
        return part == "decoder" and torch.device(self.device).type == "cpu"

    @torch.inference_mode()
    def read_tensor(self, x: torch.Tensor, use_refiner: bool = True, *, langs: Sequence[str] | str | None = None,
                    script_consistency: bool | None = None) -> list[Prediction]:
        """``B, 3, H, W`` preprocessed batch → predictions (``langs``, ``script_consistency``: as
        :meth:`read`)."""
        k = self.spotter.cfg.topk
        with self._autocast():
            out = self._reader(x.to(self.device).contiguous(memory_format=self._memory_format))

        def decode(rows: list[int], allowed: torch.Tensor | None):
            full = len(rows) == out.logits.shape[0]
            at = torch.tensor(rows, device=out.logits.device)
            logits = mask_logits(out.logits if full else out.logits.index_select(0, at), allowed)
            ids, p, top_i, top_p = spotter_decode(logits, k)
            readings = [_cut(i, q) for i, q in zip(ids.tolist(), p.tolist())]
            if use_refiner and self.refiner is not None:
                feats = [f if full or f is None else f.index_select(0, at) for f in out.features]
                readings = self._refined(logits, feats, top_i, top_p, readings, allowed)
            return readings, top_i, top_p

        readings, top_i, top_p = decode_words(self.bank, out.logits.float(), decode, allowed=self.lang_mask(langs),
                                              consistency=self._consistency(script_consistency),
                                              margin=self.script_margin)
        return self._predictions(readings, top_i, top_p)

    def _predictions(self, readings: list[Reading], top_i: torch.Tensor, top_p: torch.Tensor) -> list[Prediction]:
        """One Prediction per reading, with the Spotter's top-K per position up to its first EOS
        (probabilities rounded to 4 decimals); the tensors become nested lists once per batch."""
        tokens = self._tokens
        first = top_i[..., 0] == EOS_ID                                     # B, L
        n_top = torch.where(first.any(1), first.int().argmax(1) + 1, first.shape[1]).tolist()
        top_ids = top_i.tolist()
        top_probs = torch.round(top_p.double(), decimals=4).tolist()
        preds = []
        for (char_ids, char_p, conf), rows_i, rows_p, m in zip(readings, top_ids, top_probs, n_top):
            topk = [list(zip([tokens[i] for i in rows_i[t]], rows_p[t])) for t in range(m)]
            preds.append(Prediction(text=self.bank.decode(char_ids), confidence=float(conf),
                                    script=self.bank.script_vote(char_ids),
                                    chars=[(tokens[i], float(q)) for i, q in zip(char_ids, char_p)], topk=topk))
        return preds

    def _refined(self, logits: torch.Tensor, features: list[torch.Tensor | None], top_i: torch.Tensor,
                 top_p: torch.Tensor, readings: list[Reading], allowed: torch.Tensor | None = None) -> list[Reading]:
        """``readings`` after the Refiner, under the refine policy, mode and gates; with ``allowed``
        (``N`` booleans) its logits are masked to those rows too, and a reading that leaves them
        keeps the Spotter's."""
        # the words to refine (the gates': refine_ratio, refine_below), shortest Spotter reading first:
        # teacher-forced passes then run in chunks of similar lengths, each padded to its own longest
        rows = sorted(self._refine_rows(readings, top_p[..., :2].tolist()), key=lambda b: len(readings[b][0]))
        if not rows:
            return readings
        ref = self.refiner
        order = torch.tensor(rows, device=top_i.device)

        def pick(t: torch.Tensor) -> torch.Tensor:
            return t.index_select(0, order)

        # only the maps the Refiner's memory reads are gathered (and converted); the others stay None
        ti, tp = pick(top_i), pick(top_p)
        feats = [pick(f) if i in ref.cfg.levels else None for i, f in enumerate(features)]
        cacheable = ref.cacheable()
        cross = None
        if cacheable:
            with self._autocast("cross"):
                cross = ref.cross_kv(ref.memory(ti, tp, feats))
            if self._autocast_off("decoder"):  # a float32 decoder reads float32 keys and values
                cross = [c.float() for c in cross]
        max_len = ref.cfg.max_len
        device = top_i.device

        def forced(idx: list[int], seqs: list[list[int]]) -> torch.Tensor:
            width = min(max(len(q) for q in seqs), max_len - 1)
            result = torch.zeros(len(seqs), width + 1, len(self.bank), device=device)
            todo = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
            parts = [todo[a:min(b, a + FORCED_CHUNK)]
                     for lo, b in forced_chunks([min(len(seqs[i]), max_len - 1) for i in todo], FORCED_CHUNK)
                     for a in range(lo, b, FORCED_CHUNK)]
            for part in parts:
                w = min(max(len(seqs[i]) for i in part), max_len - 1)
                prev = torch.tensor([(seqs[i][:w] + [PAD_ID] * w)[:w] for i in part], dtype=torch.long,
                                    device=device).reshape(len(part), w)
                rows_ = [idx[i] for i in part]
                span = rows_ == list(range(rows_[0], rows_[0] + len(rows_)))
                at = None if span else torch.tensor(rows_, device=device)

                def take(t: torch.Tensor | None) -> torch.Tensor | None:
                    if t is None:
                        return None
                    return t[rows_[0]:rows_[0] + len(rows_)] if span else t.index_select(0, at)

                with self._autocast("decoder"):
                    if cross is None:  # a decoder Refiner.forced does not restate: the module itself
                        logits = ref(take(ti), take(tp), [take(f) for f in feats], prev)
                    else:
                        logits = ref.forced(prev, [take(c) for c in cross])
                result[torch.tensor(part, device=device), :w + 1] = logits.float()
            return mask_logits(result, allowed)

        def greedy() -> list[tuple[list[int], list[float]]]:
            with self._autocast("decoder"):
                r_ids, r_p = (ref.greedy_cross(cross, EOS_ID) if cross is not None
                              else ref.greedy(ti, tp, feats, EOS_ID))
            return list(zip(r_ids.tolist(), r_p.float().tolist()))

        chosen = refine_readings([readings[b] for b in rows], pick(logits), policy=self.refine_policy,
                                 mode=self.refine_mode, forced=forced, greedy=greedy, max_len=max_len)
        readings = list(readings)
        for b, r in zip(rows, chosen):
            if not leaves(r[0], allowed):
                readings[b] = r
        return readings

    def read(self, images: Any, batch_size: int = 64, use_refiner: bool = True, *,
             langs: Sequence[str] | str | None = None, script_consistency: bool | None = None,
             lexicon: Any = None) -> list[Prediction]:
        """Read images — paths, PIL images, arrays, bytes; one or many (:mod:`mstr.inputs`) — one
        Prediction each, in order; an unusable image gives a Prediction with ``error``.

        ``langs``: a language hint (codes of the model's languages, e.g. ``["hi"]`` or ``"hi,en"``):
        only those languages' characters and Common ones are read; ``script_consistency``: the
        constraint without a hint (None: the reader's setting); ``lexicon``: a
        :class:`~mstr.reading.lexicon.Lexicon` or word-list path (None: the reader's, False: none)."""
        return self._read_all(images, batch_size, use_refiner, langs, script_consistency, lexicon)


"""Reading word images with a loaded bundle: Spotter (+ Refiner) over the frozen bank.

Imports no training, font or web code.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from PIL import Image
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mstr.bank import EOS_ID, PAD_ID, Bank
from mstr.images import BadImage, load_image
from mstr.models.mclip import BasicBlock
from mstr.models.refiner import Refiner
from mstr.models.spotter import Spotter
from mstr.prediction import Prediction
from mstr.preprocess import preprocess
from mstr.refine_policy import DEFAULT_REFINE_POLICY, REFINE_POLICIES

__all__ = ["Recognizer", "read_images", "spotter_decode", "sequence_logprob", "fold_batchnorm", "REFINE_POLICIES",
           "DEFAULT_REFINE_POLICY"]


def spotter_decode(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``B, L, N`` logits → (argmax ids ``B, L``, their probs, top-K ids ``B, L, K``, top-K probs).

    ``<pad>`` is never an output."""
    probs = logits.float().index_fill(-1, torch.tensor([PAD_ID], device=logits.device), float("-inf")).softmax(-1)
    top_p, top_i = probs.topk(k, dim=-1)
    return top_i[..., 0], top_p[..., 0], top_i, top_p


def sequence_logprob(logits: torch.Tensor, seqs: list[list[int]]) -> torch.Tensor:
    """``B, T, N`` per-position logits → log-probability of each ``seqs[b]`` followed by EOS.

    Positions beyond ``T`` cannot be scored and count as impossible (−inf); ``<pad>`` is never
    an output."""
    logp = logits.float().index_fill(-1, torch.tensor([PAD_ID], device=logits.device), float("-inf"))
    logp = logp.log_softmax(-1)
    out = torch.empty(len(seqs), device=logits.device)
    for b, seq in enumerate(seqs):
        target = seq + [EOS_ID]
        if len(target) > logp.shape[1]:
            out[b] = float("-inf")
            continue
        idx = torch.tensor(target, device=logits.device)
        out[b] = logp[b, torch.arange(len(target), device=logits.device), idx].sum()
    return out


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


class Recognizer:
    """``read(images)`` → one :class:`Prediction` per image. Build it with :func:`mstr.load`.

    With a Refiner, both readings are computed; ``refine_policy`` says which one is returned
    (see :data:`REFINE_POLICIES`). The confidence of a reading is the product of its characters'
    probabilities and the end-of-sequence probability.

    ``spotter`` and ``refiner`` are put in eval mode on ``device``. The Spotter reads through a
    copy made here, with BatchNorm folded into the convolutions (:func:`fold_batchnorm`) and, when
    ``channels_last`` (default: on CPU, where it is faster), in channels-last memory format; later
    changes to ``spotter``'s weights are therefore not seen: build a new Recognizer after changing
    them. Readings are those of ``spotter`` up to float rounding."""

    def __init__(self, spotter: Spotter, bank: Bank, refiner: Refiner | None = None, *,
                 config: dict[str, Any] | None = None, name: str = "mstr", device: str = "cpu",
                 bf16: bool = False, refine_policy: str = DEFAULT_REFINE_POLICY,
                 channels_last: bool | None = None) -> None:
        if refine_policy not in REFINE_POLICIES:
            raise ValueError(f"refine_policy must be one of {REFINE_POLICIES}, got {refine_policy!r}")
        self.refine_policy = refine_policy
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

    def _autocast(self):
        return torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16, enabled=self.bf16)

    @torch.inference_mode()
    def read_tensor(self, x: torch.Tensor, use_refiner: bool = True) -> list[Prediction]:
        """``B, 3, H, W`` preprocessed batch → predictions."""
        k = self.spotter.cfg.topk
        n = x.shape[0]
        with self._autocast():
            out = self._reader(x.to(self.device).contiguous(memory_format=self._memory_format))
        ids, p, top_i, top_p = spotter_decode(out.logits, k)
        readings = [_cut(i, q) for i, q in zip(ids.tolist(), p.tolist())]
        if use_refiner and self.refiner is not None:
            with self._autocast():
                r_ids, r_p = self.refiner.greedy(top_i, top_p, out.features, EOS_ID)
            refined = [_cut(i, q) for i, q in zip(r_ids.tolist(), r_p.float().tolist())]
            if self.refine_policy == "joint":
                take = self._joint_choice(out, top_i, top_p, [r[0] for r in readings], [r[0] for r in refined])
            else:
                take = [self.refine_policy == "always" or r[2] >= s[2] for r, s in zip(refined, readings)]
            readings = [r if t else s for r, s, t in zip(refined, readings, take)]
        preds = []
        tokens = [e.token for e in self.bank.entries]
        top_ids, top_probs = top_i.tolist(), top_p.tolist()  # B, L, K nested lists: one conversion per batch
        for b in range(n):
            char_ids, char_p, conf = readings[b]
            rows_i, rows_p = top_ids[b], top_probs[b]
            s_ids = [row[0] for row in rows_i]
            n_top = s_ids.index(EOS_ID) + 1 if EOS_ID in s_ids else len(s_ids)
            topk = [[(tokens[i], round(q, 4)) for i, q in zip(rows_i[t], rows_p[t])] for t in range(n_top)]
            preds.append(Prediction(text=self.bank.decode(char_ids), confidence=float(conf),
                                    script=self.bank.script_vote(char_ids),
                                    chars=[(tokens[i], float(q)) for i, q in zip(char_ids, char_p)], topk=topk))
        return preds

    def _joint_choice(self, out, top_i: torch.Tensor, top_p: torch.Tensor, spotted: list[list[int]],
                      refined: list[list[int]]) -> list[bool]:
        """Per sample: True when the refined reading scores higher under Spotter + Refiner together."""
        differ = [b for b in range(len(spotted)) if spotted[b] != refined[b]]
        take = [False] * len(spotted)
        if not differ:
            return take
        sel = torch.tensor(differ, device=top_i.device)
        feats = [f[sel] for f in out.features]
        s_logits = out.logits[sel]
        scores = []
        for cand in ([spotted[b] for b in differ], [refined[b] for b in differ]):
            # a reading with no room left for EOS scores −inf in sequence_logprob; truncate its input
            width = min(max(len(c) for c in cand), self.refiner.cfg.max_len - 1)
            prev = torch.full((len(cand), width), PAD_ID, dtype=torch.long, device=top_i.device)
            for j, c in enumerate(cand):
                prev[j, :min(len(c), width)] = torch.tensor(c[:width], dtype=torch.long)
            with self._autocast():
                r_logits = self.refiner(top_i[sel], top_p[sel], feats, prev)
            scores.append(sequence_logprob(s_logits, cand) + sequence_logprob(r_logits, cand))
        for j, b in enumerate(differ):
            take[b] = bool(scores[1][j] > scores[0][j])
        return take

    def read(self, images: Sequence[Image.Image | str | Path], batch_size: int = 64,
             use_refiner: bool = True) -> list[Prediction]:
        """Read RGB PIL images (or image paths). An unreadable path gives a Prediction with ``error``."""
        return read_images(images, self.image_size, lambda x: self.read_tensor(x, use_refiner), batch_size)


def read_images(images: Sequence[Image.Image | str | Path], image_size: tuple[int, int],
                read_tensor: Callable[[torch.Tensor], list[Prediction]], batch_size: int = 64) -> list[Prediction]:
    """Decode paths (an unreadable one gives a Prediction with ``error``), convert to RGB, preprocess
    in batches and call ``read_tensor`` on each; predictions come back in input order."""
    results: list[Prediction | None] = [None] * len(images)
    ok: list[tuple[int, Image.Image]] = []
    for i, im in enumerate(images):
        if isinstance(im, (str, Path)):
            try:
                im = load_image(im)
            except BadImage as exc:
                results[i] = Prediction(text="", confidence=0.0, script=None, error=str(exc))
                continue
        ok.append((i, im if im.mode == "RGB" else im.convert("RGB")))
    for start in range(0, len(ok), batch_size):
        chunk = ok[start:start + batch_size]
        x = preprocess([im for _, im in chunk], image_size)
        for (i, _), pred in zip(chunk, read_tensor(x)):
            results[i] = pred
    return results  # type: ignore[return-value]

"""Reading word images with a loaded bundle in PyTorch: Spotter (+ Refiner) over the frozen bank.

The decoding, the refine policy and the Prediction builder are the reading core's
(:mod:`mstr.reading.decode`, :mod:`mstr.reading.refine`, :mod:`mstr.reading.reader`), shared with
the ONNX reader; this module runs the torch models: the Spotter (BatchNorm folded,
:func:`fold_batchnorm`) and the Refiner's teacher-forced and greedy primitives.

Imports no training, font or web code.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mstr.bank import EOS_ID, PAD_ID, Bank
from mstr.models.mclip import BasicBlock
from mstr.models.refiner import Refiner
from mstr.models.spotter import Spotter
from mstr.reading.lang_decode import mask_logits
from mstr.reading.prediction import Prediction
from mstr.reading.reader import Forced, Greedy, SpotterReader
from mstr.reading.refine import FORCED_CHUNK, forced_chunks
from mstr.reading.refine_policy import RefineSettings

__all__ = ["Recognizer", "fold_batchnorm", "bf16_encoder_copy"]


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


def bf16_encoder_copy(reader: nn.Module, *, fuse: bool = True) -> nn.Module:
    """A copy of the reading Spotter ``reader`` whose encoder convolutions and linear layers hold
    bfloat16 weights, for reading under bfloat16 autocast. Autocast would convert those same
    weights to bfloat16 (round to nearest) on every call; converting them once gives the same
    numbers, bit for bit, without the per-call copies. The rest of the Spotter (feature tokens,
    decoder, the bank) is left in float32. With ``fuse`` on a CPU, a PP-OCRv6 encoder also gets
    fused convolution kernels (:func:`mstr.reading.fused.fuse_ppocr_encoder`: the same numbers up to
    bfloat16 rounding)."""
    from mstr.reading.fused import fuse_ppocr_encoder

    reader = copy.deepcopy(reader)
    for m in reader.encoder.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.to(torch.bfloat16)
    if fuse and next(reader.parameters()).device.type == "cpu":
        fuse_ppocr_encoder(reader.encoder)
    return reader



class Recognizer(SpotterReader):
    """``read(images)`` → one :class:`Prediction` per image; ``read_photo(image)`` → the words of a whole
    photo (:mod:`mstr.photo`). Build it with :func:`mstr.load`.

    With a Refiner, ``refine`` (a :class:`~mstr.reading.refine_policy.RefineSettings`) says which
    reading is returned, the Spotter's or the Refiner's (its ``policy``, see
    :data:`~mstr.reading.refine_policy.REFINE_POLICIES`), how the Refiner's reading is found (its
    ``mode``: ``parallel`` teacher-forced passes, ``greedy`` step-by-step decoding, or ``auto``:
    parallel with ``joint-edit1``, where both give the same readings; see
    :mod:`mstr.reading.refine_policy`); its ``ratio`` gate (default 0.2) skips the Refiner for words
    whose every position has the Spotter's runner-up probability at most that times the best, and
    its ``below`` gate (default None: off) words whose Spotter confidence is at least that. All four
    can be changed on a loaded Recognizer (``rec.refine_mode = "greedy"``). The confidence of a
    reading is the product of its characters' probabilities and the end-of-sequence probability.

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
                 bf16: bool = False, refine: RefineSettings = RefineSettings(),
                 channels_last: bool | None = None, config_path: Any = None) -> None:
        self.refine_settings = refine
        self.spotter = spotter.eval().to(device)
        self._reader = fold_batchnorm(self.spotter)
        if channels_last is None:
            channels_last = torch.device(device).type == "cpu"
        self._memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._reader.to(memory_format=self._memory_format)
        self._reader_bf16: nn.Module | None = None   # made on the first bfloat16 read (bf16_encoder_copy)
        self.refiner = refiner.eval().to(device) if refiner is not None else None
        self._init_reader(bank, config=config, name=name, device=device, image_size=spotter.cfg.image_size,
                          config_path=config_path)
        self.bf16 = bf16
        self.topk = spotter.cfg.topk

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
        with self._autocast():
            out = self._spotter_copy()(x.to(self.device).contiguous(memory_format=self._memory_format))
        return self._decode_batch(out.logits, out.features, use_refiner, langs, script_consistency)

    def _spotter_copy(self) -> nn.Module:
        """The Spotter copy that reads at the current precision: under bfloat16 autocast the one
        with bfloat16 encoder weights (:func:`bf16_encoder_copy`, made once), else ``_reader``."""
        if self._autocast_off("spotter"):
            return self._reader
        if self._reader_bf16 is None:
            self._reader_bf16 = bf16_encoder_copy(self._reader)
        return self._reader_bf16

    def _select_features(self, feats: Sequence[Any], rows: list[int]) -> list[Any]:
        at = torch.tensor(rows, device=self.device)
        return [f if f is None else f.index_select(0, at.to(f.device)) for f in feats]

    def _refine_primitives(self, rows: list[int], top_i: torch.Tensor, top_p: torch.Tensor, feats: Sequence[Any],
                           allowed: torch.Tensor | None) -> tuple[Forced, Greedy, int]:
        """The torch Refiner's primitives over rows ``rows``: its memory (and, when cacheable, the
        cross-attention keys and values) made once, teacher-forced calls in chunks
        (:func:`~mstr.reading.refine.forced_chunks`), greedy decoding with the cache."""
        ref = self.refiner
        order = torch.tensor(rows, device=top_i.device)

        def pick(t: torch.Tensor) -> torch.Tensor:
            return t.index_select(0, order)

        # only the maps the Refiner's memory reads are gathered (and converted); the others stay None
        ti, tp = pick(top_i), pick(top_p)
        feats = [pick(f) if i in ref.cfg.levels else None for i, f in enumerate(feats)]
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

        return forced, greedy, max_len

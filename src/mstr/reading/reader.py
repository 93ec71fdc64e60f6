"""The surface every reader shares, written once.

* :class:`Reader` — every reader (:func:`mstr.load`'s, a baseline bundle's, the parallel one):
  ``read(images)`` → one :class:`~mstr.reading.prediction.Prediction` per image, in order
  (:mod:`mstr.inputs`: paths, PIL images, arrays, bytes; a Prediction with ``error`` for an
  unusable image), by ``read_tensor`` per preprocessed batch; ``read_photo(image)``
  (:mod:`mstr.photo`); the attributes ``name``, ``bank``, ``config``, ``langs``, ``image_size``,
  ``device``.
* :class:`SpotterReader` — the Spotter (+ Refiner) readers of both backends (torch
  :class:`~mstr.reading.recognizer.Recognizer`, ONNX :class:`~mstr.onnx.runtime.OnnxRecognizer`):
  decoding a batch of Spotter logits (:mod:`mstr.reading.decode`) under the language settings
  (:mod:`mstr.reading.lang_decode`), the Refiner under one
  :class:`~mstr.reading.refine_policy.RefineSettings` (:mod:`mstr.reading.refine`), the lexicon.
  A backend gives its Spotter's outputs and the Refiner's two primitives.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import torch

from mstr.bank import Bank
from mstr.inputs import read_images
from mstr.reading.decode_options import DEFAULT_TURN_TALL
from mstr.photo import PhotoReader
from mstr.reading.calibration import confidence_power
from mstr.reading.decode import Reading, cut_at_eos, spotter_decode, to_predictions
from mstr.reading.lang_decode import LangSettings, decode_words, leaves, mask_logits
from mstr.reading.prediction import Prediction
from mstr.reading.refine import refine_readings
from mstr.reading.refine_policy import RefineSettings

__all__ = ["Reader", "SpotterReader", "Forced", "Greedy"]

#: the Refiner teacher-forced: ``forced(rows, seqs)`` → logits ``len(rows), W + 1, N`` (see
#: :func:`mstr.reading.refine.refine_readings`)
Forced = Callable[[list[int], list[list[int]]], torch.Tensor]
#: the Refiner's greedy decoding of every row: ``(ids, probs)`` lists, EOS-padded
Greedy = Callable[[], list[tuple[list[int], list[float]]]]


class Reader(PhotoReader):
    """``read(images)`` → one Prediction per image, in order, through ``read_tensor(x)`` (``B, 3, H, W``
    preprocessed batch → predictions), which a reader defines; ``read_photo(image)``."""

    name: str
    bank: Bank
    config: dict[str, Any]
    langs: list[str]
    image_size: tuple[int, ...]
    device: str
    #: True when this reader runs in bfloat16 autocast (the torch recognizers; float32 elsewhere)
    bf16: bool = False
    #: the word-confidence calibration of the bundle (``config["calibration"]``; 1.0: none)
    confidence_power: float = 1.0
    #: images over this many times as tall as wide are also read turned a quarter each way, the most
    #: confident reading kept (:func:`mstr.inputs.read_images`); None: never turned
    turn_tall: float | None = DEFAULT_TURN_TALL

    def _init_reader(self, bank: Bank, *, config: dict[str, Any] | None, name: str, device: str,
                     image_size: Sequence[int], config_path: Any = None) -> None:
        self.bank = bank
        self.config = config or {}
        # a malformed calibration is a UserError naming config_path (the file), else the model
        self.confidence_power = confidence_power(self.config, config_path or f"the config of {name}")
        self.name = name
        self.device = device
        self.langs = bank.langs()
        self.image_size = tuple(image_size)

    def read(self, images: Any, batch_size: int = 64) -> list[Prediction]:
        """Read images — paths, PIL images, arrays, bytes; one or many (:mod:`mstr.inputs`) — one
        Prediction each, in order; an unusable image gives a Prediction with ``error``."""
        return read_images(images, self.image_size, self.read_tensor, batch_size,  # type: ignore[attr-defined]
                           turn_tall=self.turn_tall)


def _refine_field(field: str, doc: str) -> property:
    def get(self: "SpotterReader") -> Any:
        return getattr(self.refine_settings, field)

    def set_(self: "SpotterReader", value: Any) -> None:
        self.refine_settings = dataclasses.replace(self.refine_settings, **{field: value})

    return property(get, set_, doc=doc)


class SpotterReader(Reader, LangSettings):
    """A Spotter (+ Refiner) reader: ``read(images, langs=…)``, decoding shared by the backends.

    ``refine_settings`` (:class:`RefineSettings`) says how the Refiner's reading is found and
    which reading wins; ``refine_policy``, ``refine_mode``, ``refine_below`` and ``refine_ratio``
    read or change one of its fields (checked: ``ValueError``). A backend sets ``topk`` and
    ``refiner`` (None: none loaded), and defines ``read_tensor``, :meth:`_select_features` and
    :meth:`_refine_primitives`."""

    topk: int
    refiner: Any
    refine_settings: RefineSettings = RefineSettings()
    #: whether the refined rows go shortest reading first (teacher-forced chunks of similar lengths)
    _sort_refine_rows = True

    refine_policy = _refine_field("policy", "see :data:`~mstr.reading.refine_policy.REFINE_POLICIES`")
    refine_mode = _refine_field("mode", "see :data:`~mstr.reading.refine_policy.REFINE_MODES`")
    refine_below = _refine_field("below", "Spotter-confidence gate, or None")
    refine_ratio = _refine_field("ratio", "runner-up/best ratio gate, or None")

    def _refine_rows(self, readings: Sequence[Reading], top2: Any) -> list[int]:
        """The rows the Refiner reads under the gates (:meth:`RefineSettings.rows`)."""
        return self.refine_settings.rows(readings, top2)

    def _select_features(self, feats: Sequence[Any], rows: list[int]) -> list[Any]:
        """The Spotter's feature maps of batch rows ``rows``."""
        raise NotImplementedError

    def _refine_primitives(self, rows: list[int], top_i: torch.Tensor, top_p: torch.Tensor, feats: Sequence[Any],
                           allowed: torch.Tensor | None) -> tuple[Forced, Greedy, int]:
        """The Refiner's ``forced`` and ``greedy`` primitives over rows ``rows`` of a batch, and its
        ``max_len``; ``allowed``: the rows its logits are masked to (None: no mask)."""
        raise NotImplementedError

    def _refine_mode(self, allowed: torch.Tensor | None) -> str:
        """The refine mode to run (``auto`` is resolved by :func:`refine_readings`)."""
        return self.refine_mode

    def _decode_batch(self, logits: torch.Tensor, feats: Sequence[Any], use_refiner: bool,
                      langs: Sequence[str] | str | None, script_consistency: bool | None) -> list[Prediction]:
        """Predictions of a batch from the Spotter's ``logits`` (``B, L, N``) and feature maps."""
        logits = logits.float()

        def decode(rows: list[int], allowed: torch.Tensor | None):
            full = len(rows) == logits.shape[0]
            masked = mask_logits(logits if full else logits.index_select(0, torch.tensor(rows, device=logits.device)),
                                 allowed)
            ids, p, top_i, top_p = spotter_decode(masked, self.topk)
            readings = [cut_at_eos(i, q) for i, q in zip(ids.tolist(), p.tolist())]
            if use_refiner and self.refiner is not None:
                sub = feats if full else self._select_features(feats, rows)
                readings = self._refined(masked, sub, top_i, top_p, readings, allowed)
            return readings, top_i, top_p

        readings, top_i, top_p = decode_words(self.bank, logits, decode, allowed=self.lang_mask(langs),
                                              consistency=self._consistency(script_consistency),
                                              margin=self.script_margin)
        return to_predictions(self.bank, readings, top_i, top_p, self._tokens, self.confidence_power)

    @property
    def _tokens(self) -> list[str]:
        cached = self.__dict__.get("_token_list")
        if cached is None:
            cached = self.__dict__["_token_list"] = [e.token for e in self.bank.entries]
        return cached

    def _refined(self, logits: torch.Tensor, feats: Sequence[Any], top_i: torch.Tensor, top_p: torch.Tensor,
                 readings: list[Reading], allowed: torch.Tensor | None = None) -> list[Reading]:
        """``readings`` after the Refiner, under the refine settings; with ``allowed`` (``N``
        booleans) its logits are masked to those rows too, and a reading that leaves them keeps the
        Spotter's (``logits``: the Spotter's, masked to ``allowed`` when given)."""
        rows = self._refine_rows(readings, top_p[..., :2].tolist())
        if self._sort_refine_rows:  # teacher-forced passes then run in chunks of similar lengths
            rows = sorted(rows, key=lambda b: len(readings[b][0]))
        if not rows:
            return readings
        forced, greedy, max_len = self._refine_primitives(rows, top_i, top_p, feats, allowed)
        order = torch.tensor(rows, device=logits.device)
        chosen = refine_readings([readings[b] for b in rows], logits.index_select(0, order),
                                 policy=self.refine_policy, mode=self._refine_mode(allowed), forced=forced,
                                 greedy=greedy, max_len=max_len)
        readings = list(readings)
        for b, r in zip(rows, chosen):
            if not leaves(r[0], allowed):
                readings[b] = r
        return readings

    def read(self, images: Any, batch_size: int = 64, use_refiner: bool = True, *,  # type: ignore[override]
             langs: Sequence[str] | str | None = None, script_consistency: bool | None = None,
             lexicon: Any = None) -> list[Prediction]:
        """Read images — paths, PIL images, arrays, bytes; one or many (:mod:`mstr.inputs`) — one
        Prediction each, in order; an unusable image gives a Prediction with ``error``.

        ``langs``: a language hint (codes of the model's languages, e.g. ``["hi"]`` or ``"hi,en"``):
        only those languages' characters and Common ones are read; ``script_consistency``: the
        constraint without a hint (None: the reader's setting); ``lexicon``: a
        :class:`~mstr.reading.lexicon.Lexicon` or word-list path (None: the reader's, False: none)."""
        self.lang_mask(langs)  # a bad hint fails before any image is read
        preds = read_images(images, self.image_size, lambda x: self.read_tensor(  # type: ignore[attr-defined]
            x, use_refiner, langs=langs, script_consistency=script_consistency), batch_size, turn_tall=self.turn_tall)
        return self.apply_lexicon(preds, lexicon)

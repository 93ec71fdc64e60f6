"""Recognition engines behind one small interface, for comparisons (``mstr compare``).

An :class:`Engine` has a ``name`` and ``read(images, langs=None) -> list[Prediction]``: one
prediction per RGB PIL image, in order, text normalised with :func:`mstr.text.normalize`.
``langs`` (one ISO 639-1 code or None per image) is the language the data says each crop is in;
engines that read without being told (mSTR and the baselines) ignore it, Tesseract uses it to
pick its language pack (see :mod:`mstr.engines.tesseract`).

Engines (:data:`ENGINE_NAMES`, built by :func:`make_engine`, or :func:`make_engines` for a comparison):

* ``mstr``: an mSTR bundle through :func:`mstr.load` (Spotter + Refiner when the bundle has one);
* ``mstr-spotter``: the same bundle read by the Spotter alone;
* ``crnn``, ``softmax``: baseline bundles (:mod:`mstr.baseline_bundle`, :mod:`mstr.engines.baselines`);
* ``tesseract``: the Tesseract OCR command line, single-word page segmentation;
* ``rapidocr``: RapidOCR's PP-OCRv6 small recognizer, onnxruntime (:mod:`mstr.engines.rapidocr_rec`);
* ``easyocr``: EasyOCR's English recognizer ``english_g2`` (:mod:`mstr.engines.easyocr_en`).

``rapidocr`` and ``easyocr`` are the ``peers`` extra (:mod:`mstr.peers`; ``make peers``); without
it they raise a one-line :class:`~mstr.errors.UserError` naming the install command.

Nothing heavy is imported until an engine is built.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from PIL import Image

from mstr.errors import UserError
from mstr.reading.prediction import Prediction

__all__ = ["Engine", "ModelEngine", "ENGINE_NAMES", "LATIN_PEERS", "make_engine", "make_engines"]

ENGINE_NAMES = ("mstr", "mstr-spotter", "crnn", "softmax", "tesseract", "rapidocr", "easyocr")
#: engines that read Latin script only (English peers)
LATIN_PEERS = ("rapidocr", "easyocr")


class Engine:
    """The common interface. ``langs``: the languages the engine reads (None: not stated)."""

    name: str = "engine"
    langs: list[str] | None = None

    def read(self, images: Sequence[Image.Image], langs: Sequence[str | None] | None = None) -> list[Prediction]:
        """One :class:`~mstr.reading.prediction.Prediction` per image (RGB PIL), in order."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """What this engine is, for reports (JSON-ready)."""
        return {"name": self.name}


class ModelEngine(Engine):
    """Any reader with ``read(images, batch_size=…)`` (a Recognizer, a baseline reader)."""

    def __init__(self, name: str, reader: Any, *, batch_size: int = 64, info: dict[str, Any] | None = None,
                 read_kwargs: dict[str, Any] | None = None) -> None:
        self.name = name
        self.reader = reader
        self.batch_size = batch_size
        self.langs = list(getattr(reader, "langs", None) or []) or None
        self._info = dict(info or {})
        self._kwargs = dict(read_kwargs or {})

    def read(self, images: Sequence[Image.Image], langs: Sequence[str | None] | None = None) -> list[Prediction]:
        return list(self.reader.read(list(images), batch_size=self.batch_size, **self._kwargs))

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "langs": self.langs, **self._info}


def _need(path: str | Path | None, name: str, option: str) -> Path:
    if path is None:
        raise UserError(f"engine {name!r} needs a bundle: give {option} FOLDER")
    return Path(path)


def make_engine(name: str, *, bundle: str | Path | None = None, crnn: str | Path | None = None,
                softmax: str | Path | None = None, device: str = "cpu", batch_size: int = 64,
                tesseract_langs: Sequence[str] = (), tesseract_mode: str = "given", threads: int = 1,
                tesseract_min_height: int = 48, bf16: bool | None = None, workers: int = 1) -> Engine:
    """Build the engine ``name`` (one of :data:`ENGINE_NAMES`).

    ``bundle``: the mSTR bundle (``mstr``, ``mstr-spotter``; None = the shipped default);
    ``crnn`` / ``softmax``: baseline bundles; ``tesseract_langs``: the languages Tesseract must
    be able to read (their packs are checked now); ``tesseract_mode``: ``given`` (each crop's own
    language, the union for unknown ones) or ``union`` (always the union); ``threads``:
    Tesseract processes run side by side (the torch engines use ``torch.set_num_threads``,
    ``rapidocr`` as many onnxruntime intra-op threads; the peers read in one process);
    ``bf16``: the mSTR engines read in bfloat16 autocast (True), float32 (False) or as
    :func:`mstr.load` picks for this CPU (None, the default);
    ``workers``: the torch engines read with that many processes sharing the ``threads``
    (:mod:`mstr.reading.parallel`; each gets ``threads // workers`` threads, at least 1).
    """
    from mstr.reading.parallel import check_workers

    per_worker = max(1, threads // check_workers(workers))
    if name in ("mstr", "mstr-spotter"):
        from mstr.api import load

        refiner = name == "mstr"
        rec = load(bundle, refiner=refiner, device=device, bf16=bf16, workers=workers, worker_threads=per_worker)
        has_refiner = getattr(rec, "refiner", None) is not None
        return ModelEngine(name, rec, batch_size=batch_size,
                           info={"bundle": str(bundle) if bundle else "(default)", "refiner": has_refiner,
                                 "model": getattr(rec, "name", None), "bf16": bool(getattr(rec, "bf16", False)),
                                 "workers": workers})
    if name in ("crnn", "softmax"):
        from mstr.baseline_bundle import read_baseline_config
        from mstr.engines.baselines import load_baseline

        path = _need(crnn if name == "crnn" else softmax, name, f"--{name}")
        kind = read_baseline_config(path)["kind"]
        if kind != name:
            raise UserError(f"--{name} {path} holds a {kind} baseline, not a {name} one")
        rec = load_baseline(path, device=device)
        if workers > 1:
            from mstr.reading.parallel import ParallelReader

            rec = ParallelReader(rec, {"folder": str(path), "device": device}, workers, per_worker,
                                 loader="mstr.engines.baselines:load_baseline")
        return ModelEngine(name, rec, batch_size=batch_size,
                           info={"bundle": str(path), "model": rec.name, "workers": workers})
    if name == "tesseract":
        from mstr.engines.tesseract import TesseractEngine

        return TesseractEngine(tesseract_langs, mode=tesseract_mode, threads=threads,
                               min_height=tesseract_min_height)
    if name == "rapidocr":
        from mstr.engines.rapidocr_rec import RapidOcrEngine

        return RapidOcrEngine(threads=threads)
    if name == "easyocr":
        from mstr.engines.easyocr_en import EasyOcrEngine

        return EasyOcrEngine(threads=threads)
    raise UserError(f"unknown engine {name!r}; choose from {', '.join(ENGINE_NAMES)}")


def make_engines(names: Sequence[str], data_langs: Iterable[str], *, tesseract_union: str | None = None,
                 bf16: bool | None = None, workers: int = 1, **kwargs: Any) -> list[Engine]:
    """Build the engines ``names`` (as ``mstr compare`` does) for data in the languages ``data_langs``.

    Tesseract gets the union ``tesseract_union`` (language codes or a preset; default: the data's
    languages it has packs for, else 6lang) plus the data's languages, and reads in one process per
    thread; ``bf16`` applies to the mSTR engines and ``workers`` to the torch engines. The other
    ``kwargs`` go to :func:`make_engine`.
    """
    from mstr.charsets import parse_langs

    engines = []
    for name in names:
        extra: dict[str, Any] = {}
        if name == "tesseract":
            from mstr.engines.tesseract import PACKS

            langs = sorted({lang for lang in data_langs if lang in PACKS})
            union = parse_langs(tesseract_union) if tesseract_union else (langs or parse_langs("6lang"))
            extra["tesseract_langs"] = list(dict.fromkeys(list(union) + langs))
        engines.append(make_engine(name, bf16=bf16 if name in ("mstr", "mstr-spotter") else False,
                                   workers=1 if name == "tesseract" else workers, **extra, **kwargs))
    return engines

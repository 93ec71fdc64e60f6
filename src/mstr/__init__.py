"""mSTR: multilingual scene text recognition.

Importing :mod:`mstr` does no work: submodules are loaded on first use.
"""
__version__ = "0.1.0"
__all__ = ["__version__"]

"""The Python API: ``mstr.load(bundle)`` → a :class:`~mstr.recognizer.Recognizer`."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from mstr.errors import UserError

__all__ = ["load", "default_bundle_path"]


def default_bundle_path() -> Path:
    """Where the shipped default model lives inside the package."""
    return Path(str(resources.files("mstr") / "resources" / "models" / "default"))


def load(path: str | Path | None = None, *, refiner: bool = True, device: str = "cpu", bf16: bool = False,
         refine_policy: str = "confidence"):
    """Load a model bundle (a folder; None = the shipped default model).

    ``refiner=False`` reads with the Spotter alone; ``refine_policy="always"`` returns the Refiner's
    reading even when the Spotter was more confident (default "confidence": the surer of the two);
    ``bf16=True`` runs in bfloat16 autocast.
    """
    from mstr.bundle import load_bundle

    if path is None:
        path = default_bundle_path()
        if not (path / "config.json").is_file():
            raise UserError("no default model is shipped with this version of mstr yet: pass a bundle "
                            "folder (e.g. --bundle runs/bundle) made by the training recipes")
    return load_bundle(path, refiner=refiner, device=device, bf16=bf16, refine_policy=refine_policy)

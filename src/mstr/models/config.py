"""JSON round trip for the model config dataclasses (tuples are stored as lists)."""
from __future__ import annotations

from dataclasses import MISSING, asdict, fields
from typing import Any, TypeVar

__all__ = ["JsonConfig"]

T = TypeVar("T", bound="JsonConfig")


class JsonConfig:
    """Mixin for dataclasses: ``to_dict()`` for config.json, ``from_dict()`` back (strict keys)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[T], d: dict[str, Any]) -> T:
        known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise KeyError(f"unknown {cls.__name__} keys {unknown}")
        out = {}
        for k, v in d.items():
            default = known[k].default
            out[k] = tuple(v) if isinstance(v, list) and default is not MISSING and isinstance(default, tuple) else v
        return cls(**out)

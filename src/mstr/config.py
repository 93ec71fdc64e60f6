"""YAML configs with ``key.sub=value`` command-line overrides."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

import yaml

from mstr.errors import UserError

__all__ = ["load_config", "apply_overrides"]


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str], *, source: str = "config") -> dict[str, Any]:
    """Return a copy of ``cfg`` with each ``a.b.c=value`` applied (value parsed as YAML).

    Only existing keys can be set, so a typo is an error rather than a silently ignored option.
    """
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {item!r} is not key=value (e.g. optim.lr=0.0005)")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = cfg
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                known = ", ".join(sorted(node)) if isinstance(node, dict) else "(not a section)"
                raise UserError(f"unknown option {'.'.join(parts[: i + 1])!r} in {source}; known here: {known}")
            if i == len(parts) - 1:
                try:
                    node[part] = yaml.safe_load(raw) if raw.strip() else None
                except yaml.YAMLError as exc:
                    raise UserError(f"cannot parse the value of {key!r}: {exc}") from None
            else:
                node = node[part]
    return cfg


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` and apply ``overrides``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} not found (see configs/train/ for the shipped ones)")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{path} must hold a YAML mapping at the top level")
    return apply_overrides(cfg, overrides, source=str(path))

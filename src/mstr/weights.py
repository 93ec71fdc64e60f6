"""Weights on disk: safetensors only (never pickle), with a clear error for any mismatch."""
from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from mstr.errors import UserError

__all__ = ["save_weights", "load_weights"]


def save_weights(module: nn.Module, path: str | Path) -> None:
    """Write ``module``'s state dict (float tensors as float32) to a safetensors file."""
    state = {k: (v.detach().float() if v.is_floating_point() else v.detach()).contiguous().cpu()
             for k, v in module.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(path)


def load_weights(module: nn.Module, path: str | Path) -> nn.Module:
    """Load a safetensors file into ``module``; every key and shape must match."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights file {path} not found")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path} is not a readable safetensors file ({exc})") from None
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    bad = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or extra or bad:
        raise UserError(f"{path} does not fit this model: missing {missing[:5]}, unexpected {extra[:5]}, "
                        f"wrong shape {bad[:5]} (was it saved by another architecture or config?)")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    return module

"""Which arithmetic a reader runs in: bfloat16 autocast where the CPU computes it natively, float32
elsewhere.

On x86 CPUs with AVX-512-BF16 or AMX, oneDNN runs the Spotter's and the Refiner's matrix products
in bfloat16 about 1.5× faster than in float32, and the readings agree with float32 to within a
few tenths of a WRR point (docs/speed.md). Without those instructions bfloat16 is emulated and
slower than float32, so "auto" picks float32 there. The ONNX backends run float32 graphs only.

``bf16`` everywhere in the API is ``True`` (bfloat16), ``False`` (float32) or ``None`` (the
default: :func:`resolve_bf16`), which follows the environment variable ``MSTR_PRECISION``
(``auto``, the default when unset; ``bf16``; ``fp32``) — a machine-wide opt-out without touching
code. The test suite sets ``MSTR_PRECISION=fp32`` so that its readings are the same on every CPU.
"""
from __future__ import annotations

import functools
import os

from mstr.errors import UserError

__all__ = ["BF16_CPU_FLAGS", "PRECISIONS", "ENV_VAR", "cpu_flags", "cpu_has_bf16", "resolve_bf16", "precision_arg"]

#: CPU flags (``/proc/cpuinfo``) that mean native bfloat16 matrix products
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")

#: the values of ``--precision`` and ``MSTR_PRECISION``: auto (bf16 where the CPU has it), bf16, fp32
PRECISIONS = ("auto", "bf16", "fp32")

#: the environment variable that sets the default precision
ENV_VAR = "MSTR_PRECISION"


def cpu_flags(wanted: tuple[str, ...] | None = None, path: str = "/proc/cpuinfo") -> list[str]:
    """The CPU flags of ``path`` (the first ``flags``/``Features`` line), limited to ``wanted`` when
    given (in its order); an empty list where the file cannot be read (not Linux)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    have = value.split()
                    return [fl for fl in wanted if fl in have] if wanted is not None else have
    except OSError:
        pass
    return []


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when this CPU reports AVX-512-BF16 or AMX-BF16 and torch's oneDNN can use it."""
    if not cpu_flags(BF16_CPU_FLAGS):
        return False
    import torch

    check = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else torch.backends.mkldnn.is_available()
    except (RuntimeError, AttributeError):
        return False


def resolve_bf16(bf16: bool | None, *, device: str = "cpu", backend: str = "torch") -> bool:
    """The precision a reader runs in: ``bf16`` when given; for ``None``, ``$MSTR_PRECISION``
    (bf16 / fp32) when set, else auto: bfloat16 for the torch backend on a CPU with native
    bfloat16 (:func:`cpu_has_bf16`), float32 otherwise (GPUs, other CPUs, the ONNX backends)."""
    if bf16 is not None:
        if not isinstance(bf16, bool):
            raise UserError(f"bf16 must be True, False or None (auto), got {bf16!r}")
        return bf16
    env = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if env not in PRECISIONS:
        raise UserError(f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a precision: set it to one of "
                        f"{', '.join(PRECISIONS)} (or unset it for auto)")
    auto = backend == "torch" and str(device).split(":")[0] == "cpu" and cpu_has_bf16()
    return {"auto": auto, "bf16": backend == "torch", "fp32": False}[env]


def precision_arg(value: str) -> bool | None:
    """``--precision`` (one of :data:`PRECISIONS`, checked by argparse) → the ``bf16`` argument of
    :func:`mstr.load` (auto → None)."""
    return {"auto": None, "bf16": True, "fp32": False}[value]

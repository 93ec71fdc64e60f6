"""The Python API: ``mstr.load(bundle)`` → a :class:`~mstr.reading.recognizer.Recognizer`."""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from mstr.errors import UserError
from mstr.reading.decode_options import DEFAULT_SCRIPT_CONSISTENCY, DEFAULT_SCRIPT_MARGIN, DEFAULT_TURN_TALL
from mstr.reading.refine_policy import (DEFAULT_REFINE_MODE, DEFAULT_REFINE_POLICY, DEFAULT_REFINE_RATIO,
                                        RefineSettings)

__all__ = ["load", "default_bundle_path", "check_device", "BACKENDS"]

#: "torch": the bundle's safetensors weights in PyTorch; "onnx" / "onnx-int8": an export made by
#: ``mstr export onnx`` (float32 / dynamically quantised graphs) run by onnxruntime on the CPU.
BACKENDS = ("torch", "onnx", "onnx-int8")


def default_bundle_path() -> Path:
    """Where the shipped default model lives inside the package."""
    return Path(str(resources.files("mstr") / "resources" / "models" / "default"))


def check_device(device: str) -> str:
    """``device`` if this torch can run on it, else a one-line :class:`UserError` with the fix
    (an unknown name such as ``gpu``, CUDA on a CPU-only torch, a GPU index that is not there)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise UserError(f"unknown device {device!r}: use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device {device!r}: this torch ({torch.__version__}) has no usable CUDA (a CPU-only "
                            "build, or no GPU visible); use --device cpu, or install a CUDA build of torch")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here "
                            f"(cuda:0…cuda:{torch.cuda.device_count() - 1})")
    elif dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError(f"device {device!r}: MPS is not available here; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"device {device!r} is not supported: use cpu, cuda, cuda:N or mps")
    return device


def load(path: str | Path | None = None, *, refiner: bool = True, device: str = "cpu", bf16: bool | None = None,
         refine_policy: str = DEFAULT_REFINE_POLICY, backend: str = "torch",
         refine_mode: str = DEFAULT_REFINE_MODE, refine_below: float | None = None,
         refine_ratio: float | None = DEFAULT_REFINE_RATIO, workers: int = 1, worker_threads: int | None = None,
         script_consistency: bool = DEFAULT_SCRIPT_CONSISTENCY, script_margin: float = DEFAULT_SCRIPT_MARGIN,
         lexicon=None, turn_tall: float | None = DEFAULT_TURN_TALL):
    """Load a model bundle (a folder; None = the shipped default model).

    ``refiner=False`` reads with the Spotter alone; ``refine_policy`` chooses between the Spotter's
    and the Refiner's readings (default "joint-edit1": the Refiner's reading when it is one edit from
    the Spotter's and both models together find it likelier; see :mod:`mstr.reading.refine_policy`);
    ``refine_mode`` how the Refiner's reading is found ("auto", "parallel", "greedy") and
    ``refine_ratio`` / ``refine_below`` gates that skip the Refiner for words the Spotter reads
    without doubt (every position's runner-up probability at most ``refine_ratio`` times the best,
    default 0.2; Spotter confidence at least ``refine_below``, default None: off);
    ``bf16=True`` runs in bfloat16 autocast, ``bf16=False`` in float32; the default ``None`` picks
    bfloat16 on a CPU with native bfloat16 (AVX-512-BF16 or AMX) and float32 elsewhere
    (:func:`mstr.precision.resolve_bf16`; the reader's ``bf16`` attribute says which ran).
    ``backend="onnx"`` (or ``"onnx-int8"``) reads with onnxruntime from an export folder made by
    ``mstr export onnx`` (``path`` = that folder, or a bundle folder holding it as ``onnx/``): same
    ``read()`` and predictions, CPU only, float32 (``bf16=True`` is refused).

    ``workers=N`` (N ≥ 2, torch backend, CPU) reads with N processes, each with ``worker_threads``
    torch threads (default: this process's threads divided among them, at least 1): a
    :class:`~mstr.reading.parallel.ParallelReader` with the same ``read()``; on a few cores it reads more
    words per second than one process with as many threads (docs/speed.md). Close it (or use it
    in a ``with`` block) to stop the processes. The workers are spawned: a script that loads with
    workers must do so under ``if __name__ == "__main__":``, as with any ``multiprocessing`` use.

    Language-aware decoding (:mod:`mstr.reading.lang_decode`, docs/decoding.md): ``script_consistency``
    (default on) re-decodes a reading that mixes scripts with one script (+ Common) unless the
    mixed one is likelier by more than ``script_margin`` nats; ``lexicon`` (a word-list path or a
    :class:`~mstr.reading.lexicon.Lexicon`) corrects every reading to the closest listed word when near
    enough. A language hint is given per call: ``read(images, langs=["hi"])``.

    ``turn_tall`` (default 1.5): an image more than that many times as tall as wide is also read
    turned by 90° and 270°, and the most confident reading is kept (its ``turned`` field says
    which); None reads every image as it is (:func:`mstr.inputs.read_images`).
    """
    check_device(device)
    from mstr.reading.lexicon import as_lexicon

    lexicon = as_lexicon(lexicon)  # a bad word list fails before the model loads
    if isinstance(script_margin, bool) or not isinstance(script_margin, (int, float)) or script_margin < 0:
        raise UserError(f"script_margin must be a number of at least 0 (nats), got {script_margin!r}")
    refine = RefineSettings(refine_policy, refine_mode, refine_below, refine_ratio)  # a bad setting fails here
    if turn_tall is not None and (isinstance(turn_tall, bool) or not isinstance(turn_tall, (int, float))
                                  or not turn_tall > 0):
        raise UserError(f"turn_tall must be a ratio above 0 (e.g. 1.5), or None to never turn an image; got {turn_tall!r}")
    if workers != 1:
        return _load_parallel(path, workers=workers, worker_threads=worker_threads, lexicon=lexicon,
                              load_kwargs={"refiner": refiner, "device": device, "bf16": bf16, "backend": backend,
                                           **refine.kwargs(), "script_consistency": script_consistency,
                                           "script_margin": script_margin, "turn_tall": turn_tall})
    reader = _load_one(path, refiner=refiner, device=device, bf16=bf16, backend=backend, refine=refine)
    reader.script_consistency, reader.script_margin = bool(script_consistency), float(script_margin)
    reader.lexicon = lexicon
    reader.turn_tall = None if turn_tall is None else float(turn_tall)
    return reader


def _load_one(path: str | Path | None, *, refiner: bool, device: str, bf16: bool | None, backend: str,
              refine: RefineSettings):
    """One reader of ``backend`` (the body of :func:`load` without workers)."""
    from mstr.bundle import load_bundle
    from mstr.precision import resolve_bf16

    if backend not in BACKENDS:
        raise UserError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    bf16 = resolve_bf16(bf16, device=device, backend=backend)
    if backend != "torch":
        from mstr.onnx.runtime import load_onnx

        if path is None:
            raise UserError(f"backend={backend!r} needs the folder of an ONNX export (`mstr export onnx`)")
        return load_onnx(path, refiner=refiner, device=device, bf16=bf16, refine=refine, int8=backend == "onnx-int8")
    if path is None:
        path = default_bundle_path()
        if not (path / "config.json").is_file():
            raise UserError("no default model is shipped with this version of mstr yet: pass a bundle "
                            "folder (e.g. --bundle runs/bundle) made by the training recipes")
    return load_bundle(path, refiner=refiner, device=device, bf16=bf16, refine=refine)


def _load_parallel(path: str | Path | None, *, workers: int, worker_threads: int | None, lexicon,
                   load_kwargs: dict[str, Any]):
    """A :class:`~mstr.reading.parallel.ParallelReader` of ``workers`` processes, each calling
    :func:`load` with ``load_kwargs`` (one reader when one worker is worth starting)."""
    import logging

    import torch

    from mstr.reading.parallel import ParallelReader, fit_workers

    workers, note = fit_workers(workers, name="workers")
    if note:
        logging.getLogger("mstr").warning("mstr.load: %s", note)
    if workers == 1:
        return load(path, lexicon=lexicon, **load_kwargs)
    if load_kwargs["backend"] != "torch":
        raise UserError(f"workers > 1 reads with the torch backend only (got backend={load_kwargs['backend']!r}); "
                        "onnxruntime has its own threads")
    if torch.device(load_kwargs["device"]).type != "cpu":
        raise UserError(f"workers > 1 is for reading on CPU cores (got device={load_kwargs['device']!r}); use one "
                        "process on an accelerator")
    threads = worker_threads if worker_threads is not None else max(1, torch.get_num_threads() // workers)
    local = load(path, lexicon=lexicon, **load_kwargs)  # checks the bundle here, and gives the reader its attributes
    return ParallelReader(local, {"path": path, **load_kwargs}, workers, threads)  # (the lexicon applies here)

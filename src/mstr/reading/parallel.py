"""Reading with several processes: ``mstr.load(bundle, workers=N)``.

mSTR's models are small: most of their operations are products of a few hundred rows, which one
core runs nearly as fast as two, so two cores read more words per second as two single-threaded
readers than as one reader with two threads (this project's 2-core CPU: 1.25× in float32, 1.3×
in bfloat16 autocast; docs/speed.md). A :class:`ParallelReader` starts ``workers`` processes
(``spawn``), each loading the same bundle with the same options and ``threads`` torch threads,
and splits the images of every ``read()`` call into that many contiguous parts, one per worker;
the predictions come back in input order and are those of one process reading them all (a
Recognizer reads each image independently of the others in its batch, up to float rounding).

The workers start (and load the bundle) when the reader is made, so a broken bundle fails at
``load()``; they stop with :meth:`ParallelReader.close`, at the end of a ``with`` block, or when
the program ends.
"""
from __future__ import annotations

import multiprocessing
import os
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from mstr.errors import UserError
from mstr.reading.prediction import Prediction
from mstr.reading.reader import Reader

__all__ = ["ParallelReader", "check_workers", "fit_workers", "cpu_cores", "close_reader"]


def check_workers(workers: object, name: str = "workers") -> int:
    """``workers`` as a whole number of at least 1, or a :class:`UserError` naming ``name``."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserError(f"{name} must be a whole number of at least 1, got {workers!r}")
    return workers


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def fit_workers(workers: int, items: int | None = None, name: str = "--workers") -> tuple[int, str | None]:
    """The reading processes worth starting for ``workers`` asked: at most one per CPU core (more
    only share the cores and each loads the model: slower, not faster) and, when ``items`` is
    known, per image. Returns the number and a one-line note when fewer cores than asked."""
    workers = check_workers(workers, name)
    cores = cpu_cores()
    note = None
    if workers > cores:
        note = (f"{name} {workers} is more than the {cores} CPU core(s) here; reading with {cores} "
                "process(es) (more would only share the cores)")
        workers = cores
    if items is not None:
        workers = max(1, min(workers, items))
    return workers, note


def close_reader(reader: Any) -> None:
    """Stop a reader's worker processes, if it has any (a :class:`ParallelReader`); other readers
    have nothing to stop."""
    close = getattr(reader, "close", None)
    if close is not None:
        close()


def _worker(conn: Connection, loader: str, load_kwargs: dict[str, Any], threads: int) -> None:
    """A worker's life: load, say ``ready`` (or why not), then read until told to stop (None)."""
    try:
        import importlib

        import torch

        module, _, function = loader.partition(":")
        torch.set_num_threads(threads)
        rec = getattr(importlib.import_module(module), function)(**load_kwargs)
    except Exception as exc:  # reported to the parent, which raises it there
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except EOFError:  # the parent went away
            return
        if msg is None:
            return
        images, read_kwargs = msg
        try:
            conn.send(("ok", rec.read(images, **read_kwargs)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _stop(procs: list[Any], conns: list[Connection]) -> None:
    for conn in conns:
        try:
            conn.send(None)
        except (OSError, ValueError):
            pass
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.terminate()
    for conn in conns:
        conn.close()


class ParallelReader(Reader):
    """``read(images)`` over ``workers`` processes, each with ``threads`` torch threads and a reader
    made by ``loader`` (``"module:function"``, default :func:`mstr.load`; a baseline's
    ``mstr.engines.baselines:load_baseline`` works too) called with ``load_kwargs``. ``local`` is
    a reader loaded the same way in this process: the parallel reader's attributes (``name``,
    ``langs``, ``refiner``, ``bank``, ``config``, …) are its. Refine settings are fixed when the
    workers start: set them through :func:`mstr.load`."""

    def __init__(self, local: Any, load_kwargs: dict[str, Any], workers: int, threads: int = 1, *,
                 loader: str = "mstr.api:load") -> None:
        if workers < 2:
            raise UserError(f"a parallel reader needs at least 2 workers, got {workers}")
        if threads < 1:
            raise UserError(f"threads per worker must be at least 1, got {threads}")
        self._local = local
        self.workers, self.threads = int(workers), int(threads)
        ctx = multiprocessing.get_context("spawn")
        self._procs: list[Any] = []
        self._conns: list[Connection] = []
        for _ in range(self.workers):
            ours, theirs = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(theirs, loader, dict(load_kwargs), self.threads), daemon=True)
            p.start()
            theirs.close()
            self._procs.append(p)
            self._conns.append(ours)
        self._finalizer = weakref.finalize(self, _stop, self._procs, self._conns)
        for conn in self._conns:
            status, detail = self._receive(conn)
            if status != "ready":
                self.close()
                raise UserError(f"a reading worker could not load the model: {detail}")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._local, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name in ("workers", "threads"):
            object.__setattr__(self, name, value)
            return
        raise AttributeError(f"a parallel reader's settings are fixed when its workers start: give {name} to "
                             "mstr.load(..., workers=N) instead")

    def _receive(self, conn: Connection) -> tuple[str, Any]:
        try:
            return conn.recv()
        except (EOFError, OSError):
            codes = [p.exitcode for p in self._procs]
            self.close()
            raise RuntimeError(f"a reading worker stopped unexpectedly (exit codes {codes})") from None

    def read(self, images: Sequence[Image.Image | str | Path], batch_size: int = 64,
             use_refiner: bool = True, *, langs: Sequence[str] | str | None = None,
             script_consistency: bool | None = None, lexicon: Any = None) -> list[Prediction]:
        """As :meth:`mstr.reading.recognizer.Recognizer.read`: one prediction per image, in order. The
        workers decode (``langs``, ``script_consistency``); the lexicon is applied here."""
        if not self._finalizer.alive:
            raise RuntimeError("this parallel reader is closed")
        images = list(images)
        n = len(images)
        if n == 0:
            return []
        parts = min(self.workers, n)
        size = -(-n // parts)
        chunks = [images[i:i + size] for i in range(0, n, size)]
        read_kwargs: dict[str, Any] = {"batch_size": batch_size}
        if not use_refiner:  # (a baseline reader has no Refiner and no such argument)
            read_kwargs["use_refiner"] = False
        if langs is not None:
            if not hasattr(self._local, "lang_mask"):
                raise UserError(f"{getattr(self._local, 'name', 'this reader')} takes no language hint")
            self._local.lang_mask(langs)  # a bad hint fails here, once
            read_kwargs["langs"] = langs
        if script_consistency is not None:
            read_kwargs["script_consistency"] = script_consistency
        for conn, chunk in zip(self._conns, chunks):
            conn.send((chunk, read_kwargs))
        out: list[Prediction] = []
        errors = []
        for conn in self._conns[:len(chunks)]:
            status, detail = self._receive(conn)
            if status == "ok":
                out += detail
            else:
                errors.append(detail)
        if errors:
            raise RuntimeError(f"a reading worker failed: {errors[0]}")
        apply = getattr(self._local, "apply_lexicon", None)
        return apply(out, lexicon) if apply is not None else out

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        self._finalizer()

    def __enter__(self) -> "ParallelReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

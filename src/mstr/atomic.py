"""Publishing outputs whole or not at all, and one writer per output folder.

* :func:`write_atomic` — a file written beside its final name, synced, then renamed over it;
* :func:`output_lock` — an exclusive lock on an output path (a ``.<name>.lock`` file beside it,
  ``flock``: released by the kernel when the process ends, even by ``kill -9``), so that a second
  process writing the same output stops at once with a one-line error instead of both
  "succeeding" and one losing the other's work;
* :func:`publish_dir` — a folder built aside (``.<name>.partial-<pid>`` beside it) and renamed
  into place only when complete: an interrupted job (Ctrl-C, ``kill -9``, a full disk) leaves the
  previous folder, or none, never a half-written one that looks valid. Leftovers of killed runs
  are removed by the next run.

Only the standard library is used here.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from pathlib import Path
from typing import Iterator, Sequence

from mstr.errors import UserError

__all__ = ["write_atomic", "output_lock", "publish_dir", "sha256_file", "partial_dirs"]


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def output_lock(path: str | Path, what: str = "output") -> Iterator[Path]:
    """Hold an exclusive lock on the output ``path`` for the block; a :class:`UserError` naming
    the other process when one already holds it."""
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock_path(path)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise UserError(f"{path}: another mstr process (pid {other}) is writing this {what} now; wait "
                            "for it to finish, or choose another output") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # releases the flock; the empty lock file stays (removing it would race)


def partial_dirs(path: str | Path) -> list[Path]:
    """Folders left beside ``path`` by interrupted :func:`publish_dir` runs."""
    path = Path(path).absolute()
    if not path.parent.is_dir():
        return []
    return sorted(path.parent.glob(f".{path.name}.partial-*"))


@contextlib.contextmanager
def publish_dir(path: str | Path, *, keep_existing: bool = False, what: str = "output",
                drop: Sequence[str] = ()) -> Iterator[Path]:
    """Yield an empty folder to build ``path`` in; on a clean exit it replaces ``path`` (renames),
    on an exception it is removed and ``path`` is left as it was. Holds :func:`output_lock` on
    ``path`` throughout. ``keep_existing``: start from a copy of the current ``path`` (for jobs
    that add to it). Entries of an existing ``path`` that the block did not write are kept (copied),
except those named in ``drop``."""
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a folder; give a folder path")
    with output_lock(path, what):
        _recover(path)
        work = path.parent / f".{path.name}.partial-{os.getpid()}"
        if keep_existing and path.is_dir():
            shutil.copytree(path, work)
        else:
            work.mkdir()
        try:
            yield work
            if path.is_dir():  # copied, not moved: until the swap the old folder stays whole
                for entry in path.iterdir():
                    if entry.name not in drop and not os.path.lexists(work / entry.name):
                        if entry.is_dir() and not entry.is_symlink():
                            shutil.copytree(entry, work / entry.name, symlinks=True)
                        else:
                            shutil.copy2(entry, work / entry.name, follow_symlinks=False)
            _swap(work, path)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise


def _recover(path: Path) -> None:
    """Clean up after killed runs (the caller holds the lock): a run killed between the two renames
    of :func:`_swap` left the previous folder renamed aside: put it back; half-built folders go."""
    olds = sorted(path.parent.glob(f".{path.name}.old-*"))
    if olds and not path.exists():
        os.rename(olds.pop(), path)
    for stale in olds + partial_dirs(path):
        shutil.rmtree(stale, ignore_errors=True)


def _swap(work: Path, path: Path) -> None:
    """Put ``work`` at ``path``: the old folder is renamed aside first and removed after."""
    old = path.parent / f".{path.name}.old-{os.getpid()}"
    if path.exists():
        os.rename(path, old)
    os.rename(work, path)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)

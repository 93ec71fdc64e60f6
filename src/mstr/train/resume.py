"""Which checkpoint a training run resumes from: never a damaged one.

Lightning writes ``<out>/checkpoints/last.ckpt`` and step checkpoints beside it. A checkpoint is a
zip archive whose members carry CRC-32s, so a file cut short (a full disk, a copy interrupted)
or with flipped bytes is found by reading it through, without unpickling anything. A damaged
``last.ckpt`` is passed over, with a warning, for the newest intact checkpoint beside it.
"""
from __future__ import annotations

import logging
import zipfile
from pathlib import Path

from mstr.errors import UserError

log = logging.getLogger(__name__)

__all__ = ["checkpoint_problem", "resume_checkpoint"]


def checkpoint_problem(path: Path) -> str | None:
    """None if ``path`` is an intact checkpoint archive, else what is wrong with it."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        return f"not a readable checkpoint ({type(exc).__name__}: {exc})"
    if bad is not None:
        return f"damaged (CRC error in {bad})"
    return None


def resume_checkpoint(folder: str | Path) -> str | None:
    """The checkpoint to resume from in ``folder``: ``last.ckpt`` if intact, else the newest intact
    one beside it (a warning names the damaged ones); None when there is none (a fresh run). A
    :class:`UserError` when checkpoints exist but every one is damaged."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    others = sorted((p for p in folder.glob("*.ckpt") if p.name != "last.ckpt"),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    candidates = ([folder / "last.ckpt"] if (folder / "last.ckpt").is_file() else []) + others
    damaged = []
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            if damaged:
                log.warning("resuming from %s: %s", path, "; ".join(damaged))
            return str(path)
        damaged.append(f"{path} is {problem}")
    if damaged:
        raise UserError(f"every checkpoint in {folder} is damaged ({'; '.join(damaged)}); move the folder "
                        "aside to start the training over")
    return None

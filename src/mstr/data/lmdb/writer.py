"""Writing LMDB datasets: :class:`LmdbWriter` appends samples in batches and resumes.

``num-samples`` is written in the same transaction as each batch, so a writer killed at any
moment leaves a consistent database, and reopening it continues the numbering. The map grows
when it is full.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lmdb

from mstr.data.lmdb.reader import (NUM_SAMPLES_KEY, image_key, label_key, lang_key, parse_num_samples,
                                   release_env)
from mstr.errors import UserError

__all__ = ["LmdbWriter", "DEFAULT_MAP_SIZE"]

log = logging.getLogger(__name__)

DEFAULT_MAP_SIZE = 1 << 30  # 1 GiB; sparse on Linux, doubled whenever it is full
_MAX_INDEX = 999_999_999  # %09d


class LmdbWriter:
    """Append samples to an LMDB (created if missing, resumed if it exists).

    Use as a context manager::

        with LmdbWriter("LMDB/hi/train_lmdb") as writer:
            writer.add(png_bytes, "नमस्ते", lang="hi")

    Samples are committed every ``commit_every`` additions and on exit, each batch together
    with the new ``num-samples``; a killed process loses at most the uncommitted batch and never
    leaves ``num-samples`` pointing past the written samples.
    """

    def __init__(self, path: str | Path, *, map_size: int = DEFAULT_MAP_SIZE,
                 commit_every: int = 1000) -> None:
        if commit_every < 1:
            raise ValueError("commit_every must be at least 1")
        self.path = Path(path)
        self.commit_every = commit_every
        self._prepare_folder()
        if (self.path / "data.mdb").is_file() and (self.path / "data.mdb").stat().st_size:
            from mstr.data.lmdb_check import check_data_file

            check_data_file(self.path)
        release_env(self.path)
        try:
            self._env: lmdb.Environment | None = lmdb.open(
                str(self.path), map_size=max(int(map_size), 1 << 16), subdir=True, meminit=False)
        except lmdb.Error as exc:
            raise UserError(f"{self.path}: cannot open the LMDB for writing ({exc})") from None
        try:
            self._committed = self._existing_count()
        except BaseException:
            self._close_env()
            raise
        self._count = self._committed
        self._pending: list[tuple[bytes, bytes]] = []

    # -- public -----------------------------------------------------------------------------

    @property
    def num_samples(self) -> int:
        """Samples in the LMDB once the pending batch is committed (existing + added)."""
        return self._count

    @property
    def committed(self) -> int:
        """Samples already committed to disk."""
        return self._committed

    def add(self, image_bytes: bytes, label: str, lang: str | None = None) -> int:
        """Queue one sample and return its 1-based index; commits every ``commit_every``."""
        if self._env is None:
            raise RuntimeError(f"LmdbWriter for {self.path} is closed")
        if not isinstance(image_bytes, (bytes, bytearray, memoryview)) or len(image_bytes) == 0:
            raise ValueError("image_bytes must be non-empty encoded image bytes")
        if not isinstance(label, str):
            raise TypeError(f"label must be str, got {type(label).__name__}")
        if self._count >= _MAX_INDEX:
            raise UserError(f"{self.path}: an LMDB holds at most {_MAX_INDEX} samples")
        lang_value = _lang_bytes(lang) if lang is not None else None
        index = self._count + 1
        self._pending.append((image_key(index), bytes(image_bytes)))
        self._pending.append((label_key(index), label.encode("utf-8")))
        if lang_value is not None:
            self._pending.append((lang_key(index), lang_value))
        self._count = index
        if index - self._committed >= self.commit_every:
            self.commit()
        return index

    def commit(self) -> None:
        """Write the pending samples and the new ``num-samples`` in one transaction."""
        if self._env is None or self._count == self._committed:
            return
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    for key, value in self._pending:
                        txn.put(key, value)
                    txn.put(NUM_SAMPLES_KEY, str(self._count).encode("ascii"))
                break
            except lmdb.MapFullError:
                self._grow()
        self._pending.clear()
        self._committed = self._count

    def abort(self) -> None:
        """Drop the uncommitted samples and close (what a killed writer leaves on disk)."""
        self._pending.clear()
        self._count = self._committed
        self._close_env()

    def close(self) -> None:
        """Commit what is pending and close the environment (idempotent)."""
        if self._env is None:
            return
        try:
            self.commit()
        finally:
            self._close_env()

    def __enter__(self) -> "LmdbWriter":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        # Samples added before an exception are complete: keep them.
        self.close()

    # -- internals --------------------------------------------------------------------------

    def _prepare_folder(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.path}: exists and is not a folder; an LMDB is a folder")
        if self.path.is_dir() and any(self.path.iterdir()) \
                and not (self.path / "data.mdb").exists():
            raise UserError(f"{self.path}: folder is not empty and holds no LMDB; give a new "
                            "or empty folder")
        self.path.mkdir(parents=True, exist_ok=True)

    def _existing_count(self) -> int:
        assert self._env is not None
        with self._env.begin() as txn:
            raw = txn.get(NUM_SAMPLES_KEY)
        if raw is None and self._env.stat()["entries"]:
            raise UserError(f"{self.path}: LMDB has entries but no 'num-samples' key; "
                            "refusing to append to it")
        if raw is None:  # a new LMDB: valid (and empty) from the start
            with self._env.begin(write=True) as txn:
                txn.put(NUM_SAMPLES_KEY, b"0")
            return 0
        return parse_num_samples(raw, self.path)

    def _grow(self) -> None:
        assert self._env is not None
        new_size = self._env.info()["map_size"] * 2
        log.debug("LMDB %s full: growing map to %d bytes", self.path, new_size)
        self._env.set_mapsize(new_size)

    def _close_env(self) -> None:
        if self._env is not None:
            self._env.sync()
            self._env.close()
            self._env = None


def _lang_bytes(lang: str) -> bytes:
    if not isinstance(lang, str) or not lang or not lang.isascii() or not lang.isalnum():
        raise ValueError(f"lang must be an ASCII language code such as 'hi', got {lang!r}")
    return lang.encode("ascii")

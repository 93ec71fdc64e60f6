"""Reading LMDB datasets: keys, the per-process read-only environments, :class:`LmdbReader`,
:func:`lmdb_info` and :func:`find_lmdbs` (the LMDBs under a folder).

The keys of the deep-text-recognition-benchmark / PARSeq / CLIP4STR convention are described in
:mod:`mstr.data.lmdb`.
"""
from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

import lmdb

from mstr.errors import UserError

__all__ = [
    "LmdbReader", "LabelRecord", "LmdbLocation", "lmdb_info", "find_lmdbs", "lmdb_path",
    "allowed_chars", "folder_lang", "image_key", "label_key", "lang_key", "release_env",
    "lmdb_dir", "shared_env", "parse_num_samples", "NUM_SAMPLES_KEY",
]

NUM_SAMPLES_KEY = b"num-samples"


def image_key(index: int) -> bytes:
    """``image-%09d`` key of sample ``index`` (1-based)."""
    return b"image-%09d" % index


def label_key(index: int) -> bytes:
    """``label-%09d`` key of sample ``index`` (1-based)."""
    return b"label-%09d" % index


def lang_key(index: int) -> bytes:
    """``lang-%09d`` key of sample ``index`` (1-based)."""
    return b"lang-%09d" % index


# --------------------------------------------------------------------------------------------
# paths and the num-samples key


def lmdb_dir(path: str | Path) -> Path:
    """The folder of an existing LMDB (accepts the folder or its ``data.mdb``)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such LMDB folder; check the path")
    if path.is_file():
        if path.name == "data.mdb":
            return path.parent
        raise UserError(f"{path}: not an LMDB; give the folder that holds data.mdb")
    if not (path / "data.mdb").is_file():
        raise UserError(f"{path}: not an LMDB (no data.mdb inside); give a folder such as "
                        "LMDB/<lang>/train_lmdb")
    return path


def _open_readonly(folder: Path) -> lmdb.Environment:
    from mstr.data.lmdb_check import check_data_file

    check_data_file(folder)  # a truncated data.mdb would kill the process with SIGBUS
    try:
        return lmdb.open(str(folder), readonly=True, lock=False, readahead=False,
                         meminit=False, max_readers=512)
    except lmdb.Error as exc:
        if "already open" in str(exc):
            raise UserError(f"{folder}: LMDB is already open in this process (an LmdbWriter "
                            "or another lmdb handle); close it first") from None
        raise UserError(f"{folder}: cannot open as an LMDB ({exc})") from None


# py-lmdb refuses to open one environment twice in a process, and an environment must not be
# used after fork(). So read-only environments are shared per process: every reader and
# dataset of the same LMDB uses one, and a forked child (DataLoader worker) that inherited its
# parent's closes that copy and opens its own.
_SHARED: dict[str, tuple[int, lmdb.Environment]] = {}
_SHARED_LOCK = threading.Lock()


def shared_env(folder: Path) -> lmdb.Environment:
    """The read-only environment of ``folder`` for this process, opened on first use."""
    key = str(folder.resolve())
    pid = os.getpid()
    with _SHARED_LOCK:
        entry = _SHARED.get(key)
        if entry is not None:
            owner, env = entry
            if owner == pid:
                return env
            _close_quietly(env)  # inherited through fork: release this process's copy only
            del _SHARED[key]
        env = _open_readonly(folder)
        _SHARED[key] = (pid, env)
        return env


def release_env(path: str | Path) -> None:
    """Close this process's shared read-only environment of ``path``, if open.

    Readers and datasets reopen it on their next access. Needed before opening the same LMDB
    with another handle (a writer, or ``lmdb.open`` directly) in this process.
    """
    with _SHARED_LOCK:
        entry = _SHARED.pop(str(Path(path).resolve()), None)
    if entry is not None:
        _close_quietly(entry[1])


def _close_quietly(env: lmdb.Environment) -> None:
    try:
        env.close()
    except lmdb.Error:
        pass


def parse_num_samples(raw: bytes | None, where: Path) -> int:
    if raw is None:
        raise UserError(f"{where}: no 'num-samples' key, so this is not an LMDB in the "
                        "deep-text-recognition-benchmark/PARSeq convention")
    try:
        value = int(bytes(raw).decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise UserError(f"{where}: 'num-samples' is {bytes(raw)[:40]!r}, not a whole number; "
                        "the LMDB is damaged") from None
    if value < 0:
        raise UserError(f"{where}: 'num-samples' is negative ({value}); the LMDB is damaged")
    return value


def folder_lang(path: str | Path) -> str | None:
    """Language code implied by the layout ``LMDB/<lang>/<split>_lmdb`` (or ``…/<lang>``)."""
    from mstr.charsets import ALL_LANGS

    path = Path(path)
    for name in (path.parent.name, path.name):
        if name in ALL_LANGS:
            return name
    return None


def allowed_chars(langs: Sequence[str]) -> frozenset[str]:
    """The union of the charsets of ``langs``, as a set of single code points (NFKD)."""
    from mstr.charsets import load_charset

    chars: set[str] = set()
    for lang in langs:
        for item in load_charset(lang).chars():
            chars.update(chr(item) if isinstance(item, int) else item)
    return frozenset(chars)


def lmdb_path(root: str | Path, lang: str, split: str) -> Path:
    """``<root>/LMDB/<lang>/<split>_lmdb``: where a data root keeps one language's split."""
    return Path(root) / "LMDB" / lang / f"{split}_lmdb"


class LabelRecord(NamedTuple):
    """One sample's label as stored; ``problem`` is set when the label cannot be used."""

    index: int
    label: str | None
    lang: str | None
    problem: str | None  # None, "missing_label" or "undecodable_label"


class LmdbReader:
    """Read-only access to one existing LMDB (opened on construction; use ``with``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = lmdb_dir(path)
        self._closed = False
        with shared_env(self.path).begin() as txn:
            raw = txn.get(NUM_SAMPLES_KEY)
        try:
            self.num_samples = parse_num_samples(raw, self.path)
        except UserError:
            self.close()
            raise

    def iter_labels(self) -> Iterator[LabelRecord]:
        """Yield a :class:`LabelRecord` for each index 1…num_samples, in order.

        Scans the ``label-`` and ``lang-`` keys with cursors (no image is read), so it is fast
        even for millions of samples.
        """
        env = self._require_env()
        with env.begin(buffers=False) as txn:
            labels = _iter_indexed(txn.cursor(), b"label-", self.num_samples)
            langs = _iter_indexed(txn.cursor(), b"lang-", self.num_samples)
            next_lang = next(langs, None)
            for index, raw in _fill_gaps(labels, self.num_samples):
                while next_lang is not None and next_lang[0] < index:
                    next_lang = next(langs, None)
                lang = None
                if next_lang is not None and next_lang[0] == index:
                    lang = next_lang[1].decode("ascii", "replace") or None
                yield _label_record(index, raw, lang)

    def image_bytes(self, index: int) -> bytes | None:
        """Encoded image bytes of sample ``index`` (1-based), or None if the key is missing."""
        with self._require_env().begin(buffers=False) as txn:
            return txn.get(image_key(index))

    def close(self) -> None:
        """Release the environment (see :func:`release_env`); idempotent."""
        if not self._closed:
            self._closed = True
            release_env(self.path)

    def __enter__(self) -> "LmdbReader":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _require_env(self) -> lmdb.Environment:
        if self._closed:
            raise RuntimeError(f"LmdbReader for {self.path} is closed")
        return shared_env(self.path)


def _iter_indexed(cursor: lmdb.Cursor, prefix: bytes, n: int) -> Iterator[tuple[int, bytes]]:
    """(index, value) for keys ``prefix%09d`` with 1 ≤ index ≤ n, ascending."""
    if not cursor.set_range(prefix):
        return
    for key, value in cursor:
        if not key.startswith(prefix):
            break
        digits = key[len(prefix):]
        if len(digits) != 9 or not digits.isdigit():
            continue
        index = int(digits)
        if index > n:
            break
        if index >= 1:
            yield index, value


def _fill_gaps(items: Iterator[tuple[int, bytes]], n: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield every index 1…n, with None where ``items`` has no value."""
    expected = 1
    for index, value in items:
        while expected < index:
            yield expected, None
            expected += 1
        yield index, value
        expected = index + 1
    while expected <= n:
        yield expected, None
        expected += 1


def _label_record(index: int, raw: bytes | None, lang: str | None) -> LabelRecord:
    if raw is None:
        return LabelRecord(index, None, lang, "missing_label")
    try:
        return LabelRecord(index, raw.decode("utf-8"), lang, None)
    except UnicodeDecodeError:
        return LabelRecord(index, None, lang, "undecodable_label")


def lmdb_info(path: str | Path) -> dict[str, Any]:
    """Summary of one LMDB: ``{"path", "num_samples", "langs": {lang: count}, "lang_keys"}``.

    Samples without a ``lang-`` key are counted under the language of the folder layout
    (``LMDB/<lang>/…``) or under ``"unknown"``.
    """
    with LmdbReader(path) as reader:
        default = folder_lang(reader.path)
        langs: Counter[str] = Counter()
        with_keys = 0
        for record in reader.iter_labels():
            with_keys += record.lang is not None
            langs[record.lang or default or "unknown"] += 1
        return {"path": str(reader.path), "num_samples": reader.num_samples,
                "langs": dict(sorted(langs.items())), "lang_keys": with_keys}


# --------------------------------------------------------------------------------------------
# finding LMDBs under a folder


@dataclass(frozen=True)
class LmdbLocation:
    """One LMDB found by :func:`find_lmdbs`: its folder, language (from the layout) and split."""

    path: Path
    lang: str | None
    split: str


def _split_name(folder: Path) -> str:
    name = folder.name
    return name[: -len("_lmdb")] if name.endswith("_lmdb") and len(name) > 5 else name


def find_lmdbs(path_or_root: str | Path, langs: Sequence[str] | None = None) -> list[LmdbLocation]:
    """The LMDBs at ``path_or_root``: itself, its ``<split>_lmdb`` sub-folders, or
    ``[LMDB/]<lang>/<split>_lmdb`` below it (only ``langs`` when given)."""
    root = Path(path_or_root)
    if not root.exists():
        raise UserError(f"{root}: no such file or folder")
    if root.is_file() and root.name == "data.mdb":
        root = root.parent
    if (root / "data.mdb").is_file():
        return [LmdbLocation(root, folder_lang(root), _split_name(root))]
    if not root.is_dir():
        raise UserError(f"{root}: not an LMDB folder or a folder of LMDBs")
    base = root / "LMDB" if (root / "LMDB").is_dir() else root
    found = [LmdbLocation(p, folder_lang(p), _split_name(p)) for p in _lmdb_children(base)]
    if found:  # PATH is a language folder: <lang>/<split>_lmdb
        found = [loc for loc in found if langs is None or loc.lang in langs]
    else:
        for lang_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            if langs is not None and lang_dir.name not in langs:
                continue
            found += [LmdbLocation(p, folder_lang(p) or lang_dir.name, _split_name(p))
                      for p in _lmdb_children(lang_dir)]
    if not found:
        wanted = f" for languages {', '.join(langs)}" if langs else ""
        raise UserError(f"{root}: no LMDB found{wanted}; expected an LMDB folder (with data.mdb) "
                        "or a root with LMDB/<lang>/<split>_lmdb folders")
    return found


def _lmdb_children(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` that are LMDBs, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / "data.mdb").is_file())

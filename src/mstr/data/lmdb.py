"""LMDB datasets in the deep-text-recognition-benchmark / PARSeq / CLIP4STR convention.

Keys (DESIGN.md §2), sample indices start at 1:

* ``num-samples`` — ASCII decimal count ``n``;
* ``image-%09d`` — encoded image bytes (PNG, JPEG, …);
* ``label-%09d`` — UTF-8 label;
* ``lang-%09d`` — optional ASCII ISO 639-1 code (mSTR's addition; other tools ignore it).

An LMDB written by those projects loads here unchanged, and one written here loads there.

* :class:`LmdbWriter` appends samples in batches; ``num-samples`` is written in the same
  transaction as each batch, so a writer killed at any moment leaves a consistent database, and
  reopening it continues the numbering (resume). The map grows when it is full.
* :class:`LmdbReader` is a thin read-only view (labels by cursor scan, image bytes by index).
* :class:`LmdbDataset` is a map-style training/evaluation dataset that filters labels once at
  construction, counting and reporting every skipped sample, and survives corrupt images.
* :func:`lmdb_info` summarises one LMDB.
"""
from __future__ import annotations

import logging
import os
import threading
import unicodedata
from array import array
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import lmdb

from mstr.errors import UserError

__all__ = [
    "LmdbWriter", "LmdbReader", "LmdbDataset", "LabelRecord", "lmdb_info", "allowed_chars",
    "folder_lang", "image_key", "label_key", "lang_key", "release_env", "NUM_SAMPLES_KEY",
]

log = logging.getLogger(__name__)

NUM_SAMPLES_KEY = b"num-samples"
DEFAULT_MAP_SIZE = 1 << 30  # 1 GiB; sparse on Linux, doubled whenever it is full
_MAX_INDEX = 999_999_999  # %09d
_N_EXAMPLES = 5


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


def _lmdb_dir(path: str | Path) -> Path:
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


def _shared_env(folder: Path) -> lmdb.Environment:
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


def _parse_num_samples(raw: bytes | None, where: Path) -> int:
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


# --------------------------------------------------------------------------------------------
# writer


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
        return _parse_num_samples(raw, self.path)

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


# --------------------------------------------------------------------------------------------
# reader


class LabelRecord(NamedTuple):
    """One sample's label as stored; ``problem`` is set when the label cannot be used."""

    index: int
    label: str | None
    lang: str | None
    problem: str | None  # None, "missing_label" or "undecodable_label"


class LmdbReader:
    """Read-only access to one existing LMDB (opened on construction; use ``with``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = _lmdb_dir(path)
        self._closed = False
        with _shared_env(self.path).begin() as txn:
            raw = txn.get(NUM_SAMPLES_KEY)
        try:
            self.num_samples = _parse_num_samples(raw, self.path)
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
        return _shared_env(self.path)


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
# dataset


class LmdbDataset:
    """Map-style dataset over one LMDB: ``ds[i] -> (image, label, lang)``.

    ``image`` is a PIL ``RGB`` image (or ``transform(image)``), ``label`` the normalised label
    (:func:`mstr.text.normalize`, unless ``normalize_labels=False``), ``lang`` the sample's
    ``lang-`` key, else ``lang``, else the language of the folder layout
    ``LMDB/<lang>/<split>_lmdb``, else None.

    At construction the labels (not the images) are scanned once; samples whose label is
    missing, empty, longer than ``max_len`` code points or uses characters outside the union of
    the charsets of ``charset_langs`` are skipped, counted in :attr:`skipped` (reason → count),
    with a few examples in :attr:`skipped_examples` and one logged warning. A corrupt image met
    in ``__getitem__`` is logged, counted in :attr:`bad_images`, and the next valid sample is
    returned instead, so a training run does not crash.

    The LMDB environment is opened lazily in each process (``readonly``, ``lock=False``,
    shared by all readers of that LMDB in the process; see :func:`release_env`), so the
    dataset can be pickled and used by forked ``DataLoader`` workers.
    """

    def __init__(self, path: str | Path, *, charset_langs: Sequence[str] | None = None,
                 lang: str | None = None, max_len: int | None = None,
                 transform: Callable[[Any], Any] | None = None,
                 normalize_labels: bool = True) -> None:
        self.path = _lmdb_dir(path)
        self.default_lang = lang if lang is not None else folder_lang(self.path)
        self.max_len = max_len
        self.transform = transform
        self.normalize_labels = normalize_labels
        self.charset_langs = tuple(charset_langs) if charset_langs is not None else None
        self.skipped: dict[str, int] = {}
        self.skipped_examples: list[tuple[int, str | None, str]] = []
        self.missing_chars: Counter[str] = Counter()
        self.bad_images = 0
        self._bad_indices: set[int] = set()
        self._indices = array("q")
        self._labels: list[str] = []
        self._langs: list[str | None] | None = None
        self.num_samples = 0
        self._scan()

    # -- construction -----------------------------------------------------------------------

    def _scan(self) -> None:
        from mstr.text import normalize

        allowed = allowed_chars(self.charset_langs) if self.charset_langs is not None else None
        langs: list[str | None] = []
        skipped: Counter[str] = Counter()
        with LmdbReader(self.path) as reader:
            self.num_samples = reader.num_samples
            for record in reader.iter_labels():
                label = record.label
                if label is not None and self.normalize_labels:
                    label = normalize(label)
                reason = record.problem or self._reject_reason(label, allowed)
                if reason is not None:
                    skipped[reason] += 1
                    if len(self.skipped_examples) < _N_EXAMPLES:
                        self.skipped_examples.append((record.index, record.label, reason))
                    continue
                self._indices.append(record.index)
                self._labels.append(label)  # type: ignore[arg-type]
                langs.append(record.lang)
        if any(item is not None for item in langs):
            self._langs = [item or self.default_lang for item in langs]
        self.skipped = dict(skipped)
        if skipped:
            self._warn_skipped()

    def _reject_reason(self, label: str | None, allowed: frozenset[str] | None) -> str | None:
        if not label:
            return "empty"
        if self.max_len is not None and len(label) > self.max_len:
            return "too_long"
        if allowed is not None:
            missing = [ch for ch in label if ch not in allowed]
            if missing:
                self.missing_chars.update(missing)
                return "out_of_charset"
        return None

    def _warn_skipped(self) -> None:
        total = sum(self.skipped.values())
        reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(self.skipped.items()))
        index, label, reason = self.skipped_examples[0]
        extra = ""
        if self.missing_chars:
            top = ", ".join(f"U+{ord(ch):04X} {unicodedata.name(ch, '?')} ×{n}" for ch, n in
                            self.missing_chars.most_common(5))
            extra = f"; characters outside the charset: {top}"
        log.warning("LMDB %s: skipped %d of %d samples (%s); e.g. %s %r (%s)%s", self.path, total,
                    self.num_samples, reasons, label_key(index).decode(), label, reason, extra)

    # -- map-style dataset ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, idx: int) -> tuple[Any, str, str | None]:
        n = len(self._indices)
        if idx < 0:
            idx += n
        if not 0 <= idx < n:
            raise IndexError(f"index {idx} out of range for a dataset of {n} samples")
        for offset in range(n):
            position = (idx + offset) % n
            image = self._load(position)
            if image is not None:
                if self.transform is not None:
                    image = self.transform(image)
                return image, self._labels[position], self.lang_at(position)
        raise UserError(f"LMDB {self.path}: no sample has a decodable image")

    def label_at(self, position: int) -> str:
        """Normalised label of the ``position``-th kept sample (no image is read)."""
        return self._labels[position]

    def lang_at(self, position: int) -> str | None:
        """Language of the ``position``-th kept sample."""
        return self._langs[position] if self._langs is not None else self.default_lang

    def index_at(self, position: int) -> int:
        """LMDB index (1-based, as in ``image-%09d``) of the ``position``-th kept sample."""
        return self._indices[position]

    def _load(self, position: int) -> Any:
        from mstr.images import BadImage, decode_image

        index = self._indices[position]
        key = image_key(index)
        with _shared_env(self.path).begin(buffers=False) as txn:
            data = txn.get(key)
        try:
            if data is None:
                raise BadImage(f"{self.path} {key.decode()}", "image key is missing")
            return decode_image(data, f"{self.path} {key.decode()}")
        except BadImage as exc:
            self._record_bad(index, str(exc))
            return None

    def _record_bad(self, index: int, message: str) -> None:
        if index in self._bad_indices:
            return
        self._bad_indices.add(index)
        self.bad_images += 1
        log.warning("LMDB %s: skipping sample %s with a bad image: %s (bad images so far: %d)",
                    self.path, image_key(index).decode(), message, self.bad_images)

    def close(self) -> None:
        """Release the LMDB environment in this process; the next access reopens it."""
        release_env(self.path)

    def __repr__(self) -> str:
        return (f"LmdbDataset({str(self.path)!r}, samples={len(self)}/{self.num_samples}, "
                f"skipped={self.skipped})")

""":class:`LmdbDataset`: a map-style training / evaluation dataset over one LMDB.

It filters labels once at construction, counting and reporting every skipped sample, and
survives corrupt images.
"""
from __future__ import annotations

import logging
import unicodedata
from array import array
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

from mstr.data.lmdb.reader import (LmdbReader, allowed_chars, folder_lang, image_key, label_key, lmdb_dir,
                                   release_env, shared_env)
from mstr.errors import UserError

__all__ = ["LmdbDataset"]

log = logging.getLogger(__name__)

_N_EXAMPLES = 5


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
        self.path = lmdb_dir(path)
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
        with shared_env(self.path).begin(buffers=False) as txn:
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

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
* :func:`lmdb_info` summarises one LMDB; :func:`find_lmdbs` finds the LMDBs under a folder.

Reading is :mod:`mstr.data.lmdb.reader`, writing :mod:`mstr.data.lmdb.writer`, the dataset
:mod:`mstr.data.lmdb.dataset`; this package exports their public names.
"""
from __future__ import annotations

from mstr.data.lmdb.dataset import LmdbDataset
from mstr.data.lmdb.reader import (
    NUM_SAMPLES_KEY, LabelRecord, LmdbLocation, LmdbReader, allowed_chars, find_lmdbs, folder_lang, image_key,
    label_key, lang_key, lmdb_info, lmdb_path, release_env,
)
from mstr.data.lmdb.writer import LmdbWriter

__all__ = [
    "LmdbWriter", "LmdbReader", "LmdbDataset", "LabelRecord", "LmdbLocation", "lmdb_info", "find_lmdbs",
    "lmdb_path", "allowed_chars", "folder_lang", "image_key", "label_key", "lang_key", "release_env",
    "NUM_SAMPLES_KEY",
]

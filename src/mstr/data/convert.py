"""Conversions between gt.txt, manifests and LMDBs (DESIGN.md §2).

* :func:`gt_to_lmdb` — ``<image path>\\t<label>`` lines (deep-text-recognition-benchmark's
  ``create_lmdb_dataset.py`` input) → LMDB;
* :func:`manifest_to_lmdb` — JSON-lines manifest → LMDB (with ``lang-`` keys);
* :func:`lmdb_to_manifest` — LMDB → image files + ``manifest.jsonl``.

Image bytes are copied unchanged (never re-encoded), labels are stored as given (readers
normalise them). Nothing is dropped silently: every bad row (malformed line, unsafe or missing
path, corrupt image, empty label, …) is skipped, counted per reason in the returned
:class:`ConvertReport`, with messages naming the line or key.

An LMDB is written whole or not at all: it is built in a folder beside ``out`` and renamed into
place when complete (:func:`mstr.atomic.publish_dir`; with ``append``, starting from a copy of the
existing LMDB), under a lock on ``out``. A conversion interrupted at any moment (Ctrl-C,
``kill -9``) leaves ``out`` as it was, so running the same command again gives the same LMDB as
an uninterrupted run; a second conversion into the same ``out`` at the same time stops at once.
"""
from __future__ import annotations

import contextlib
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

from mstr.errors import UserError

__all__ = ["ConvertReport", "gt_to_lmdb", "manifest_to_lmdb", "lmdb_to_manifest"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_EXAMPLES_PER_REASON = 5
_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PIL_EXT = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "BMP": "bmp", "TIFF": "tif",
            "WEBP": "webp", "PPM": "ppm", "JPEG2000": "jp2"}


@dataclass
class ConvertReport:
    """Result of a conversion: what was written, and every skipped row counted by reason."""

    source: str
    out: str
    written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, message: str) -> None:
        """Count one skipped row under ``reason``, keeping the first few ``message``s."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < _EXAMPLES_PER_REASON:
            kept.append(message)

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        """Human-readable lines for the terminal."""
        lines = [f"{self.source} -> {self.out}: wrote {self.written}, "
                 f"skipped {self.total_skipped}"]
        for reason, count in sorted(self.skipped.items()):
            lines.append(f"  {reason}: {count}")
            lines += [f"    {message}" for message in self.examples.get(reason, [])]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "out": self.out, "written": self.written,
                "skipped": dict(self.skipped), "examples": {k: list(v) for k, v in
                                                           self.examples.items()}}


# --------------------------------------------------------------------------------------------
# shared helpers


def _progress(iterable: Iterable[T], total: int | None, desc: str) -> Iterable[T]:
    """``iterable`` with a tqdm bar on a terminal (none when output is not a TTY)."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="img", disable=None, leave=False)


def _check_lang(lang: str | None) -> None:
    from mstr.charsets import ALL_LANGS

    if lang is not None and lang not in ALL_LANGS:
        raise UserError(f"unknown language {lang!r}; use one of {', '.join(sorted(ALL_LANGS))}")


def _check_new_lmdb(out: Path, append: bool) -> None:
    """Refuse to mix a conversion into an existing, non-empty LMDB unless ``append``, and to turn
    a folder of other files into an LMDB."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; an LMDB is a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "data.mdb").exists():
        raise UserError(f"{out}: folder is not empty and holds no LMDB; give a new or empty folder")
    if not (out / "data.mdb").exists() or append:
        return
    from mstr.data.lmdb import LmdbReader

    with LmdbReader(out) as reader:
        if reader.num_samples:
            raise UserError(f"{out}: already an LMDB with {reader.num_samples} samples; choose "
                            "a new --out, or pass --append to add to it")


@contextlib.contextmanager
def _lmdb_output(out: Path, append: bool, commit_every: int) -> Iterator[Any]:
    """An :class:`~mstr.data.lmdb.LmdbWriter` on a folder beside ``out`` that replaces ``out`` when
    the block ends cleanly (see the module docstring); ``out`` is checked under its lock."""
    from mstr.atomic import publish_dir
    from mstr.data.lmdb import LmdbWriter, release_env

    try:
        with publish_dir(out, keep_existing=append, what="LMDB") as work:
            _check_new_lmdb(out, append)
            release_env(out)
            with LmdbWriter(work, commit_every=commit_every) as writer:
                yield writer
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"nothing was written to {out} (it is as it was); run the same command "
                                "again") from None
    release_env(out)


def _image_problem(data: bytes, source: str) -> str | None:
    """None if ``data`` decodes to a usable image, else what is wrong with it."""
    from mstr.images import BadImage, decode_image

    try:
        decode_image(data, source)
    except BadImage as exc:
        return str(exc)
    return None


def _image_ext(data: bytes) -> str:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return _PIL_EXT.get(image.format or "", (image.format or "img").lower())
    except Exception:
        return "img"


def _finish(report: ConvertReport) -> ConvertReport:
    if report.skipped:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(report.skipped.items()))
        first = next(iter(report.examples.values()))[0]
        log.warning("%s: skipped %d rows (%s); e.g. %s", report.source, report.total_skipped,
                    reasons, first)
    return report


# --------------------------------------------------------------------------------------------
# gt.txt -> LMDB


def _gt_lines(gt_path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text without line ending) per line; text None if not UTF-8."""
    with open(gt_path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield number, None
                continue
            if number == 1:
                text = text.lstrip("\ufeff")
            yield number, text.rstrip("\r\n")


def gt_to_lmdb(gt_path: str | Path, image_root: str | Path, out: str | Path,
               lang: str | None = None, *, append: bool = False,
               commit_every: int = 1000) -> ConvertReport:
    """Convert a gt.txt (``<image path>\\t<label>`` per line) into an LMDB at ``out``.

    Image paths are relative to ``image_root`` and may not escape it. With ``lang`` every
    sample gets a ``lang-`` key. Blank lines are ignored; other bad lines are skipped and
    counted in the report with their line number.
    """
    from mstr.data.manifest import resolve_under
    from mstr.text import normalize

    gt_path, image_root, out = Path(gt_path), Path(image_root), Path(out)
    if not gt_path.is_file():
        raise UserError(f"{gt_path}: gt file not found")
    if not image_root.is_dir():
        raise UserError(f"{image_root}: image root folder not found")
    _check_lang(lang)
    _check_new_lmdb(out, append)  # (again under the lock, in _lmdb_output)
    with open(gt_path, "rb") as handle:
        total = sum(1 for _ in handle)
    report = ConvertReport(source=str(gt_path), out=str(out))
    with _lmdb_output(out, append, commit_every) as writer:
        for number, text in _progress(_gt_lines(gt_path), total, "gt.txt -> LMDB"):
            where = f"{gt_path}:{number}"
            if text is None:
                report.skip("invalid_utf8", f"{where}: line is not valid UTF-8")
                continue
            if not text.strip():
                continue
            if "\t" not in text:
                report.skip("malformed_line", f"{where}: no tab; expected "
                                              "'<image path>\\t<label>'")
                continue
            rel, label = text.split("\t", 1)
            if not normalize(label):
                report.skip("empty_label", f"{where}: label is empty for {rel!r}")
                continue
            try:
                image_path = resolve_under(image_root, rel)
            except UserError as exc:
                report.skip("unsafe_path", f"{where}: rejected, not read: {exc}")
                continue
            if not image_path.is_file():
                report.skip("missing_file", f"{where}: image not found: {image_root / rel}")
                continue
            data = image_path.read_bytes()
            problem = _image_problem(data, str(image_root / rel))
            if problem is not None:
                report.skip("bad_image", f"{where}: {problem}")
                continue
            writer.add(data, label, lang)
            report.written += 1
    return _finish(report)


# --------------------------------------------------------------------------------------------
# manifest -> LMDB


def manifest_to_lmdb(manifest: str | Path, root: str | Path, out: str | Path, *,
                     verify_ids: bool = False, append: bool = False,
                     commit_every: int = 1000) -> ConvertReport:
    """Convert a JSON-lines manifest (images under ``root``) into an LMDB at ``out``.

    Every sample gets its ``lang-`` key. Lines that :func:`~mstr.data.manifest.read_manifest`
    rejects, and images that do not decode, are skipped and counted with their line number.
    """
    from mstr.data.manifest import read_manifest

    out = Path(out)
    read = read_manifest(manifest, root, verify_ids=verify_ids)
    _check_new_lmdb(out, append)  # (again under the lock, in _lmdb_output)
    report = ConvertReport(source=str(manifest), out=str(out))
    for problem in read.problems:
        report.skip(problem.reason, str(problem))
    with _lmdb_output(out, append, commit_every) as writer:
        for record in _progress(read.records, len(read.records), "manifest -> LMDB"):
            image_path = record.image_path(root)
            where = f"{manifest} (id {record.id}, {record.path_rel})"
            try:
                data = image_path.read_bytes()
            except OSError as exc:
                report.skip("missing_file", f"{where}: cannot read ({exc.strerror or exc})")
                continue
            problem = _image_problem(data, str(image_path))
            if problem is not None:
                report.skip("bad_image", f"{where}: {problem}")
                continue
            writer.add(data, record.gt_text, record.lang)
            report.written += 1
    return _finish(report)


# --------------------------------------------------------------------------------------------
# LMDB -> manifest


def lmdb_to_manifest(lmdb: str | Path, out_dir: str | Path, dataset: str, *,
                     lang: str | None = None) -> ConvertReport:
    """Write the images of an LMDB as files plus ``out_dir/manifest.jsonl``.

    Images go to ``out_dir/<lang>/<dataset>/images/<index>.<ext>`` (bytes unchanged) and
    ``path_rel`` is relative to ``out_dir``. A sample's language is its ``lang-`` key, else
    ``lang``, else the folder layout ``LMDB/<lang>/…``; samples with none, with an empty or
    unreadable label, or with a corrupt image are skipped and counted with their key.
    """
    from mstr.data.lmdb import LmdbReader, folder_lang, image_key, label_key
    from mstr.data.manifest import make_record, write_manifest
    from mstr.text import normalize

    out_dir = Path(out_dir)
    if not _DATASET_NAME.match(dataset):
        raise UserError(f"dataset name {dataset!r} must be a simple folder name "
                        "(letters, digits, '.', '_', '-')")
    _check_lang(lang)
    manifest_path = out_dir / "manifest.jsonl"
    if manifest_path.exists():
        raise UserError(f"{manifest_path}: already exists; choose a new --out folder")
    records = []
    with LmdbReader(lmdb) as reader:
        report = ConvertReport(source=str(reader.path), out=str(manifest_path))
        default_lang = lang or folder_lang(reader.path)
        for record in _progress(reader.iter_labels(), reader.num_samples, "LMDB -> manifest"):
            where = f"{reader.path} {label_key(record.index).decode()}"
            if record.problem is not None:
                report.skip(record.problem, f"{where}: label is missing or not UTF-8")
                continue
            if not normalize(record.label or ""):
                report.skip("empty_label", f"{where}: label is empty")
                continue
            sample_lang = record.lang or default_lang
            try:
                _check_lang(sample_lang)
            except UserError as exc:
                report.skip("unknown_lang", f"{where}: {exc}")
                continue
            if sample_lang is None:
                report.skip("unknown_lang", f"{where}: no lang key and none given; pass --lang")
                continue
            key = image_key(record.index).decode()
            data = reader.image_bytes(record.index)
            if data is None:
                report.skip("missing_image", f"{reader.path} {key}: image key is missing")
                continue
            problem = _image_problem(data, f"{reader.path} {key}")
            if problem is not None:
                report.skip("bad_image", problem)
                continue
            image_path = (out_dir / sample_lang / dataset / "images"
                          / f"{record.index:09d}.{_image_ext(data)}")
            image_path.parent.mkdir(parents=True, exist_ok=True)
            image_path.write_bytes(data)
            records.append(make_record(out_dir, image_path, record.label or "", sample_lang,
                                       dataset))
            report.written += 1
    write_manifest(records, manifest_path)
    return _finish(report)

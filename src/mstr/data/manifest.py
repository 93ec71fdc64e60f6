"""The JSON-lines evaluation manifest (DESIGN.md §2).

One image per line::

    {"id": "<sha1 of the image bytes>", "path_rel": "en/cute80/images/x.png", "filename": "x.png",
     "gt_text": "BMW", "lang": "en", "dataset": "cute80"}

``path_rel`` is relative to a root folder given on the command line and may never escape it: an
absolute path, ``..`` that climbs out, or a symlink pointing outside the root is rejected and the
file is never read. :func:`read_manifest` keeps the good lines and reports each bad one with the
manifest file, the line number and the fix.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterable

from mstr.errors import UserError

log = logging.getLogger(__name__)

__all__ = [
    "ManifestRecord", "ManifestProblem", "ManifestRead", "read_manifest", "write_manifest",
    "make_record", "resolve_under", "sha1_bytes", "sha1_file", "MANIFEST_KEYS",
]

#: the keys of a manifest line, in the order they are written
MANIFEST_KEYS = ("id", "path_rel", "filename", "gt_text", "lang", "dataset")


@dataclass(frozen=True)
class ManifestRecord:
    """One manifest line: an image (``path_rel`` under the root) and its ground truth."""

    id: str
    path_rel: str
    filename: str
    gt_text: str
    lang: str
    dataset: str

    def to_dict(self) -> dict[str, str]:
        """The record as a JSON-ready dict, keys in :data:`MANIFEST_KEYS` order."""
        return {key: getattr(self, key) for key in MANIFEST_KEYS}

    def image_path(self, root: str | Path) -> Path:
        """The image file under ``root`` (checked not to escape it; see :func:`resolve_under`)."""
        return resolve_under(root, self.path_rel)


@dataclass(frozen=True)
class ManifestProblem:
    """A manifest line that was not kept: where it is, why, and how to fix it."""

    manifest: str
    line: int
    reason: str  # invalid_json, missing_keys, wrong_type, unknown_lang, unsafe_path, …
    message: str

    def __str__(self) -> str:
        return f"{self.manifest}:{self.line}: {self.message}"


@dataclass
class ManifestRead:
    """What :func:`read_manifest` found: the records kept and the problems of the other lines."""

    manifest: Path
    root: Path
    records: list[ManifestRecord] = field(default_factory=list)
    problems: list[ManifestProblem] = field(default_factory=list)
    #: kept lines that repeat an earlier line's id or image path (``manifest:line: …`` messages)
    duplicates: list[str] = field(default_factory=list)

    @property
    def problem_counts(self) -> dict[str, int]:
        """Number of rejected lines per reason."""
        counts: dict[str, int] = {}
        for problem in self.problems:
            counts[problem.reason] = counts.get(problem.reason, 0) + 1
        return counts

    def summary(self, max_problems: int = 10) -> str:
        """A few lines for the terminal: kept count, then the first problems."""
        lines = [f"{self.manifest}: {len(self.records)} records kept, "
                 f"{len(self.problems)} lines rejected"]
        lines += [f"  {problem}" for problem in self.problems[:max_problems]]
        if len(self.problems) > max_problems:
            lines.append(f"  … and {len(self.problems) - max_problems} more")
        if self.duplicates:
            lines.append(f"  {len(self.duplicates)} duplicate line(s), kept: e.g. {self.duplicates[0]}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# paths and hashes


def sha1_bytes(data: bytes) -> str:
    """Hex SHA-1 of ``data`` (a manifest record's ``id``)."""
    return hashlib.sha1(data).hexdigest()


def sha1_file(path: str | Path) -> str:
    """Hex SHA-1 of the file at ``path``, read in chunks."""
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_under(root: str | Path, rel: str) -> Path:
    """Return ``root/rel`` if it stays inside ``root``; raise :class:`UserError` otherwise.

    Rejects empty and absolute paths (POSIX or Windows style) and paths that leave ``root``
    once ``..`` and symlinks are resolved. Nothing is opened; only the path is resolved.
    """
    if not rel or not rel.strip():
        raise UserError("path is empty; give the image path relative to the root folder")
    if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).is_absolute() \
            or PureWindowsPath(rel).drive:
        raise UserError(f"path {rel!r} is absolute; write it relative to the root folder")
    root_resolved = Path(root).resolve()
    resolved = (root_resolved / rel).resolve()
    if not resolved.is_relative_to(root_resolved):
        raise UserError(f"path {rel!r} escapes the root folder {root_resolved} (via '..' or a "
                        "symlink); move the image under the root or change the root")
    return resolved


# --------------------------------------------------------------------------------------------
# reading


def read_manifest(path: str | Path, root: str | Path, *,
                  verify_ids: bool = False) -> ManifestRead:
    """Read the JSON-lines manifest at ``path``; images are resolved under ``root``.

    Good lines become :class:`ManifestRecord`s; each bad line (invalid JSON, missing keys, wrong
    types, unknown ``lang``, an unsafe ``path_rel``, a missing image, empty ``gt_text``, and,
    with ``verify_ids``, an ``id`` that is not the SHA-1 of the image) becomes a
    :class:`ManifestProblem` naming the file and line. Blank lines are ignored. A missing
    manifest or root is a :class:`UserError`.
    """
    path, root = Path(path), Path(root)
    if not path.is_file():
        raise UserError(f"{path}: manifest file not found")
    if not root.is_dir():
        raise UserError(f"{root}: root folder not found (path_rel values are relative to it)")
    from mstr.charsets import ALL_LANGS

    result = ManifestRead(manifest=path, root=root)
    seen: dict[str, int] = {}
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                record = _parse_line(raw, number == 1, root, frozenset(ALL_LANGS), verify_ids)
            except _LineProblem as problem:
                result.problems.append(ManifestProblem(str(path), number, problem.reason,
                                                       problem.message))
                continue
            if record is not None:
                result.records.append(record)
                for key, what in ((f"id:{record.id.lower()}", f"id {record.id}"),
                                  (f"path:{record.path_rel}", f"path_rel {record.path_rel}")):
                    if key in seen:
                        result.duplicates.append(f"{path}:{number}: {what} repeats line {seen[key]}")
                        break
                for key in (f"id:{record.id.lower()}", f"path:{record.path_rel}"):
                    seen.setdefault(key, number)
    if result.duplicates:
        log.warning("%s: %d line(s) repeat an earlier line's image (id or path_rel), e.g. %s; the image "
                    "then counts more than once: remove the repeated lines", path, len(result.duplicates),
                    result.duplicates[0])
    return result


class _LineProblem(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _parse_line(raw: bytes, first: bool, root: Path, langs: frozenset[str],
                verify_ids: bool) -> ManifestRecord | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _LineProblem("invalid_utf8", "line is not valid UTF-8; save the manifest as "
                                           "UTF-8") from None
    if first:
        text = text.lstrip("\ufeff")
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _LineProblem("invalid_json", f"invalid JSON ({exc.msg} at column {exc.colno}); "
                                           "each line must be one JSON object") from None
    record = _record_from_obj(obj, langs)
    _check_image(record, root, verify_ids)
    return record


def _record_from_obj(obj: Any, langs: frozenset[str]) -> ManifestRecord:
    from mstr.text import normalize

    if not isinstance(obj, dict):
        raise _LineProblem("wrong_type", f"line is a JSON {type(obj).__name__}, not an object "
                                         f"with keys {', '.join(MANIFEST_KEYS)}")
    missing = [key for key in MANIFEST_KEYS if key not in obj]
    if missing:
        raise _LineProblem("missing_keys", f"missing key(s) {', '.join(missing)}; every line "
                                           f"needs {', '.join(MANIFEST_KEYS)}")
    wrong = [f"{key} is {type(obj[key]).__name__}" for key in MANIFEST_KEYS
             if not isinstance(obj[key], str)]
    if wrong:
        raise _LineProblem("wrong_type", f"{'; '.join(wrong)}; all values must be strings")
    if obj["lang"] not in langs:
        raise _LineProblem("unknown_lang", f"unknown lang {obj['lang']!r}; use one of "
                                           f"{', '.join(sorted(langs))}")
    if not normalize(obj["gt_text"]):
        raise _LineProblem("empty_gt_text", "gt_text is empty; give the word's text or remove "
                                            "the line")
    if not obj["id"]:
        raise _LineProblem("wrong_type", "id is empty; set it to the SHA-1 of the image bytes")
    return ManifestRecord(**{key: obj[key] for key in MANIFEST_KEYS})


def _check_image(record: ManifestRecord, root: Path, verify_ids: bool) -> None:
    try:
        image = resolve_under(root, record.path_rel)
    except UserError as exc:
        raise _LineProblem("unsafe_path", f"path_rel rejected, not read: {exc}") from None
    if not image.is_file():
        raise _LineProblem("missing_file", f"image not found: {root / record.path_rel}; fix "
                                           "path_rel or pass the right root folder")
    if verify_ids:
        actual = sha1_file(image)
        if actual != record.id.lower():
            raise _LineProblem("id_mismatch", f"id {record.id} is not the SHA-1 of "
                                              f"{record.path_rel} ({actual}); the image changed "
                                              "or the id is wrong — regenerate the line")


# --------------------------------------------------------------------------------------------
# writing


def write_manifest(records: Iterable[ManifestRecord], path: str | Path) -> int:
    """Write ``records`` as JSON lines (UTF-8, not ASCII-escaped) to ``path``; return the count.

    The file is written to a temporary name first and renamed, so a crash never leaves a
    half-written manifest.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    count = 0
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            for record in records:
                handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return count


def make_record(root: str | Path, image_path: str | Path, gt_text: str, lang: str,
                dataset: str) -> ManifestRecord:
    """Build the manifest record of the image at ``image_path``, which must lie under ``root``.

    ``id`` is the SHA-1 of the image bytes, ``path_rel`` the POSIX path relative to ``root``.
    A relative ``image_path`` is taken relative to the current directory, like any path.
    """
    from mstr.charsets import ALL_LANGS

    if lang not in ALL_LANGS:
        raise UserError(f"unknown lang {lang!r}; use one of {', '.join(sorted(ALL_LANGS))}")
    rel = os.path.relpath(os.path.abspath(image_path), os.path.abspath(root))
    path_rel = PurePosixPath(*Path(rel).parts).as_posix()
    if path_rel == ".." or path_rel.startswith("../"):
        raise UserError(f"{image_path}: image is not under the root folder {root}")
    resolved = resolve_under(root, path_rel)
    try:
        image_id = sha1_file(resolved)
    except OSError as exc:
        raise UserError(f"{image_path}: cannot read the image ({exc.strerror or exc})") from None
    return ManifestRecord(id=image_id, path_rel=path_rel, filename=PurePosixPath(path_rel).name,
                          gt_text=gt_text, lang=lang, dataset=dataset)


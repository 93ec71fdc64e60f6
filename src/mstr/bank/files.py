"""A bank on disk: one folder holding ``bank.safetensors`` (tensor "vectors", float32 [N, D]) and
``bank.json`` (format version, dim, the ordered entries, meta, fingerprint).

The fingerprint (:func:`fingerprint_of`) is a SHA-256 over the ordered entry table and the vector
bytes; a model records the fingerprint of the bank it was trained with. Only safetensors is read
(never pickle).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from mstr.bank.entries import BankEntry
from mstr.errors import UserError

__all__ = ["FORMAT", "FORMAT_VERSION", "VECTORS_FILE", "TABLE_FILE", "REBUILD", "fingerprint_of", "bank_json",
           "write_bank", "read_bank_files"]

FORMAT = "mstr-bank"
FORMAT_VERSION = 1
VECTORS_FILE = "bank.safetensors"
TABLE_FILE = "bank.json"
TENSOR_NAME = "vectors"
#: the fix every refusal of a bank folder ends with
REBUILD = "rebuild it with `mstr bank`, or use the bank folder of the model bundle"


def _table_bytes(entries: Sequence[BankEntry]) -> bytes:
    rows = [[e.token, e.script, list(e.langs), e.subtype] for e in entries]
    return json.dumps(rows, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def fingerprint_of(entries: Sequence[BankEntry], vectors: torch.Tensor) -> str:
    """SHA-256 hex of the ordered entries (token, script, langs, subtype) and the vectors.

    The vectors enter as float32 little-endian bytes, row-major, after their shape; ``meta`` is
    not part of it.
    """
    array = np.ascontiguousarray(vectors.detach().cpu().to(torch.float32).numpy(), dtype="<f4")
    h = hashlib.sha256()
    h.update(f"{FORMAT}/{FORMAT_VERSION}\n".encode("ascii"))
    h.update(_table_bytes(entries))
    h.update(f"\n{array.shape[0]}x{array.shape[1] if array.ndim == 2 else -1}\n".encode("ascii"))
    h.update(array.tobytes())
    return h.hexdigest()


def _parse_table(table: Any, path: Path, rebuild: str) -> tuple[list[BankEntry], dict, str]:
    def bad(what: str) -> UserError:
        return UserError(f"bank file {path}: {what}; {rebuild}")

    if not isinstance(table, dict) or table.get("format") != FORMAT:
        raise bad(f"not an mstr bank table (expected \"format\": \"{FORMAT}\")")
    version = table.get("format_version")
    if version != FORMAT_VERSION:
        raise bad(f"unknown format version {version!r} (this mstr reads version "
                  f"{FORMAT_VERSION}; upgrade mstr if the bank is newer)")
    raw = table.get("entries")
    if not isinstance(raw, list):
        raise bad("'entries' must be a list")
    entries: list[BankEntry] = []
    for i, item in enumerate(raw):
        try:
            if not isinstance(item, dict) or set(item) != {"token", "script", "langs", "subtype"}:
                raise ValueError("expected an object with token, script, langs, subtype")
            if not isinstance(item["langs"], list):
                raise ValueError("langs must be a list")
            entries.append(BankEntry(item["token"], item["script"], tuple(item["langs"]),
                                     item["subtype"]))
        except (ValueError, TypeError) as exc:
            raise bad(f"entry {i} is invalid: {exc}") from None
    meta = table.get("meta", {})
    if not isinstance(meta, dict):
        raise bad("'meta' must be an object")
    fp = table.get("fingerprint")
    if not isinstance(fp, str):
        raise bad("'fingerprint' is missing")
    if not isinstance(table.get("dim"), int):
        raise bad("'dim' must be an integer")
    return entries, meta, fp


def bank_json(entries: Sequence[BankEntry], vectors: torch.Tensor, meta: dict) -> dict[str, Any]:
    """The content of ``bank.json`` for a bank of ``entries`` and ``vectors`` [N, D]."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dim": int(vectors.shape[1]),
        "size": len(entries),
        "fingerprint": fingerprint_of(entries, vectors),
        "entries": [e.to_dict() for e in entries],
        "meta": meta,
    }


def write_bank(folder: str | Path, table: dict[str, Any], vectors: torch.Tensor) -> None:
    """Write ``folder/bank.safetensors`` and ``folder/bank.json`` (``table``, from :func:`bank_json`),
    each atomically."""
    from safetensors.torch import save as st_save

    from mstr.atomic import write_atomic

    folder = Path(folder)
    blob = st_save({TENSOR_NAME: vectors.contiguous()},
                   metadata={"format": FORMAT, "fingerprint": table["fingerprint"]})
    text = json.dumps(table, ensure_ascii=False, indent=1) + "\n"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / VECTORS_FILE, blob)
        write_atomic(folder / TABLE_FILE, text.encode("utf-8"))
    except OSError as exc:
        raise UserError(f"cannot write the bank to {folder}: {exc}") from None


def read_bank_files(folder: str | Path) -> tuple[Path, list[BankEntry], torch.Tensor, dict, str]:
    """``(folder, entries, vectors, meta, fingerprint)`` of a bank folder (or its ``bank.json`` /
    ``bank.safetensors``), checked: a :class:`UserError` naming the file and the fix for missing or
    unreadable files, an unknown format version, a table that does not match the vectors, and files
    altered since they were written."""
    from safetensors.torch import load as st_load

    folder = Path(folder)
    if folder.is_file() and folder.name in (TABLE_FILE, VECTORS_FILE):
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"bank folder {folder} does not exist (a bank is a folder holding "
                        f"{TABLE_FILE} and {VECTORS_FILE}); {REBUILD}")
    table_path, vectors_path = folder / TABLE_FILE, folder / VECTORS_FILE
    for path in (table_path, vectors_path):
        if not path.is_file():
            raise UserError(f"bank file {path} is missing; {REBUILD}")
    try:
        table = json.loads(table_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"bank file {table_path} is not readable JSON ({exc}); {REBUILD}") from None
    entries, meta, stored_fp = _parse_table(table, table_path, REBUILD)
    try:
        blob = st_load(vectors_path.read_bytes())
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise UserError(f"bank file {vectors_path} is not a readable safetensors file "
                        f"({exc}); {REBUILD}") from None
    vectors = blob.get(TENSOR_NAME)
    if vectors is None:
        raise UserError(f"bank file {vectors_path} has no tensor {TENSOR_NAME!r} "
                        f"(found: {', '.join(sorted(blob)) or 'none'}); {REBUILD}")
    if vectors.dtype != torch.float32 or vectors.ndim != 2:
        raise UserError(f"bank file {vectors_path}: {TENSOR_NAME!r} must be float32 [N, D], "
                        f"got {vectors.dtype} {tuple(vectors.shape)}; {REBUILD}")
    if vectors.shape[0] != len(entries) or vectors.shape[1] != table.get("dim"):
        raise UserError(f"bank {folder}: {TABLE_FILE} lists {len(entries)} entries of dim "
                        f"{table.get('dim')} but {VECTORS_FILE} holds {tuple(vectors.shape)}; "
                        f"the two files do not belong together — {REBUILD}")
    actual_fp = fingerprint_of(entries, vectors)
    if actual_fp != stored_fp:
        raise UserError(f"bank {folder}: the fingerprint stored in {TABLE_FILE} "
                        f"({stored_fp[:12]}…) does not match the files ({actual_fp[:12]}…): "
                        f"{VECTORS_FILE} or {TABLE_FILE} was altered or comes from another "
                        f"bank; restore both files together, or {REBUILD}")
    return folder, entries, vectors, meta, actual_fp

"""A check of an LMDB's ``data.mdb`` before it is memory-mapped.

LMDB maps the file and reads pages through the mapping: a page past the end of a truncated file
(a copy cut short, a full disk) is not an error but a ``SIGBUS`` that kills the process with no
message. :func:`check_data_file` reads the two meta pages at the head of the file and refuses a
file shorter than the pages its newest meta page says are in use, or with no valid meta page.

Layout read here (LMDB's ``MDB_meta`` on a 64-bit build, little-endian): each meta page starts with
a 16-byte page header; then ``mm_magic`` (u32, 0xBEEFC0DE) at 16, ``mm_version`` (u32) at 20,
``mm_dbs[0].md_pad`` (u32: the page size) at 40, ``mm_last_pg`` (u64) at 136 and ``mm_txnid``
(u64) at 144. The second meta page is one page size into the file.
"""
from __future__ import annotations

import struct
from pathlib import Path

from mstr.errors import UserError

__all__ = ["check_data_file", "MAGIC"]

MAGIC = 0xBEEFC0DE
_META_BYTES = 152


def _meta(head: bytes, offset: int) -> tuple[int, int, int] | None:
    """``(page size, last page, txn id)`` of the meta page at ``offset``, None if not valid."""
    if len(head) < offset + _META_BYTES:
        return None
    magic, _version = struct.unpack_from("<II", head, offset + 16)
    (psize,) = struct.unpack_from("<I", head, offset + 40)
    last, txnid = struct.unpack_from("<QQ", head, offset + 136)
    if magic != MAGIC or psize < 512 or psize & (psize - 1):
        return None
    return psize, last, txnid


def check_data_file(folder: str | Path) -> None:
    """Raise a :class:`UserError` naming ``folder/data.mdb`` when it is not a whole LMDB file."""
    path = Path(folder) / "data.mdb"
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(_META_BYTES)
            first = _meta(head, 0)
            second = None
            if first is not None:
                fh.seek(first[0])
                second = _meta(fh.read(_META_BYTES), 0)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    metas = [m for m in (first, second) if m is not None]
    if not metas:
        if size == 0:  # created but never written (lmdb writes the meta pages at once)
            raise UserError(f"{path}: is empty (0 bytes): not a usable LMDB; remove the folder and convert again")
        raise UserError(f"{path}: not an LMDB file (no valid meta page); it is damaged or not an LMDB: "
                        "re-create it (mstr data manifest2lmdb / gt2lmdb)")
    psize, last, _ = max(metas, key=lambda m: m[2])
    need = (last + 1) * psize
    if size < need:
        raise UserError(f"{path}: truncated ({size:,} bytes, its pages need {need:,}); the LMDB is damaged (an "
                        "interrupted copy or a full disk?): copy it again or re-create it")

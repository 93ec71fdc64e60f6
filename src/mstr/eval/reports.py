"""Writing the report files of an evaluation (``mstr eval``, ``mstr eval mclip``, ``mstr compare``).

:func:`write_report_files` creates the folder and writes each named text, turning an
:class:`OSError` into a one-line :class:`~mstr.errors.UserError` that names the folder;
:func:`json_text` and :func:`json_lines` are the JSON forms those files use.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from mstr.errors import UserError

__all__ = ["json_text", "json_lines", "write_report_files"]


def json_text(obj: Any) -> str:
    """``obj`` as an indented JSON document (UTF-8 text kept as is), with a final newline."""
    return json.dumps(obj, ensure_ascii=False, indent=1) + "\n"


def json_lines(rows: Iterable[Any]) -> str:
    """One compact JSON object per line (``*.jsonl``)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_report_files(out: Path, files: Mapping[str, str], *, what: str = "the results") -> None:
    """Write ``files`` (name → text) into the folder ``out`` (created), UTF-8 with ``\\n`` line ends."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            with open(out / name, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
    except OSError as exc:
        raise UserError(f"cannot write {what} to {out}: {exc}") from None

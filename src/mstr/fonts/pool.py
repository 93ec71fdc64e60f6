"""The training font pool: a folder of checked, subset font files with ``pool.json``.

The pool is built once by ``make fonts`` (``tools/build_font_pool.py --out fontpool``) from
Debian font packages and Google Fonts families (npm ``@fontsource/<id>``); it is small (about
25 MB for some 900 families), travels with the code, and needs no system fonts. Each font in it
has been shaped through HarfBuzz for every cluster of every language it is listed for
(:mod:`mstr.synth.shapecheck`, when the pool is built), so a renderer drawing from it never draws boxes or dotted
circles.

``pool.json``::

    {"version": 1, "fonts": [{"file": "Deva/hind.woff2", "family": "Hind", "design": "Hind",
      "style": "Regular", "script": "Deva", "langs": ["hi", "mr"], "split": "train",
      "licence": "OFL-1.1", "source": "npm:@fontsource/hind@5.3.0", "cps": [[32, 126], …],
      "ot": ["dev2", "deva"], "lacks": {"hi": "₹"}, "bytes": 82964}, …], "rejected": {…}}

``langs`` are the languages whose charset letters and diacritics the font has and shapes;
``lacks`` lists, per language, the charset's digits / punctuation the font does not have, and
the few rare letters it may lack (``mstr.synth.poolbuild.rare_letters``; they are not in ``cps``
either, so the renderer avoids them). ``split`` is by design, per script (see ``tools/build_font_pool.py``):
``train``, ``heldout``, or ``excluded`` (out of both: held-out Malayalam designs of the traditional
orthography, recorded in ``orthography``; only the split ``all`` lists them).

How a renderer selects pool fonts: :func:`mstr.fonts.fonts_for_lang` takes
``pool=DIR``; without it the environment variable ``MSTR_FONT_POOL`` names the pool; with
neither, system fonts are used as before. ``mstr synth words|chars|fonts --font-pool DIR`` sets
the variable (worker processes inherit it).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mstr.errors import UserError
from mstr.fonts.info import SPLITS, FontInfo, from_ranges

__all__ = ["POOL_ENV", "POOL_FILE", "POOL_VERSION", "PoolFont", "resolve_pool", "load_pool",
           "read_pool", "pool_fonts_for_lang"]

POOL_ENV = "MSTR_FONT_POOL"
POOL_FILE = "pool.json"
POOL_VERSION = 1


@dataclass(frozen=True)
class PoolFont:
    """One file of the pool: its :class:`FontInfo` and the pool's record of it."""

    info: FontInfo
    script: str
    langs: tuple[str, ...]
    split: str  # "train", "heldout" or "excluded" (in neither: only the split "all" lists it)
    licence: str
    source: str
    lacks: dict[str, str]
    size: int  # bytes on disk


def resolve_pool(pool: str | os.PathLike[str] | None = None) -> Path | None:
    """The pool folder to use: ``pool`` if given, else ``$MSTR_FONT_POOL``, else None."""
    if pool is not None and str(pool).strip():
        return Path(pool).expanduser()
    env = os.environ.get(POOL_ENV, "").strip()
    return Path(env).expanduser() if env else None


_CACHE: dict[str, tuple[int, list[PoolFont], dict[str, Any]]] = {}


def read_pool(folder: Path) -> tuple[list[PoolFont], dict[str, Any]]:
    """The fonts of the pool folder ``folder`` and its whole ``pool.json`` (read once per mtime)."""
    path = folder / POOL_FILE
    hint = "build it with `make fonts` (tools/build_font_pool.py) or unset " + POOL_ENV
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise UserError(f"font pool {folder}: no {POOL_FILE} there; {hint}") from None
    cached = _CACHE.get(str(path))
    if cached is not None and cached[0] == mtime:
        return cached[1], cached[2]
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("version") != POOL_VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {POOL_VERSION}")
        fonts = [_record(folder, rec) for rec in data["fonts"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"font pool {path} is unreadable ({exc}); rebuild it: {hint}") from None
    missing = [f.info.path for f in fonts if not os.path.isfile(f.info.path)]
    if missing:
        raise UserError(f"font pool {folder}: {len(missing)} font file(s) listed in {POOL_FILE} are "
                        f"missing (first: {missing[0]}); copy the whole folder or rebuild it: {hint}")
    _CACHE[str(path)] = (mtime, fonts, data)
    return fonts, data


def _record(folder: Path, rec: dict[str, Any]) -> PoolFont:
    split = rec["split"]
    if split not in ("train", "heldout", "excluded"):
        raise ValueError(f"{rec['file']}: split {split!r}")
    info = FontInfo(path=str((folder / rec["file"]).resolve()), index=0, family=rec["family"],
                    design=rec["design"], style=rec.get("style", ""),
                    codepoints=from_ranges(rec["cps"]), ot_scripts=frozenset(rec.get("ot", ())),
                    variable=bool(rec.get("variable", False)))
    return PoolFont(info=info, script=rec["script"], langs=tuple(rec["langs"]), split=split,
                    licence=rec.get("licence", ""), source=rec.get("source", ""),
                    lacks=dict(rec.get("lacks", {})), size=int(rec.get("bytes", 0)))


def load_pool(pool: str | os.PathLike[str] | None = None) -> list[PoolFont]:
    """Every font of the pool folder ``pool`` (default: ``$MSTR_FONT_POOL``), in file order.

    Raises :class:`UserError` when no pool is named, or it is missing, unreadable or incomplete.
    """
    folder = resolve_pool(pool)
    if folder is None:
        raise UserError(f"no font pool given: pass --font-pool DIR or set {POOL_ENV}")
    return list(read_pool(folder)[0])


def pool_fonts_for_lang(lang: str, split: str = "train",
                        pool: str | os.PathLike[str] | None = None) -> list[FontInfo]:
    """Pool fonts usable for ``lang`` on one side of the split (``train``, ``heldout``, ``all``)."""
    if split not in SPLITS:
        raise UserError(f"unknown font split {split!r}: use one of {', '.join(SPLITS)}")
    fonts = load_pool(pool)
    mine = [f for f in fonts if lang in f.langs]
    if not mine:
        scripts = sorted({f.script for f in fonts})
        raise UserError(f"the font pool {resolve_pool(pool)} has no font for language '{lang}' "
                        f"(its scripts: {', '.join(scripts) or 'none'}); rebuild it with `make fonts` "
                        f"or leave out --font-pool / {POOL_ENV} to use system fonts")
    return [f.info for f in mine if split == "all" or f.split == split]

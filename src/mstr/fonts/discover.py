"""Font discovery: every face of every font file under the font folders, with its cmap.

:func:`discover_fonts` walks the font folders (:func:`default_font_dirs`), reads every face's cmap
once and caches it on disk (``$MSTR_CACHE_DIR`` or ``~/.cache/mstr``), keyed by (path, size,
mtime). What the cmap says is checked against the glyphs: code points that map to ``.notdef`` or,
for non-blank characters of the supported scripts, to an empty glyph are dropped from
:attr:`FontInfo.codepoints` (a "broken cmap" must not pass the coverage test). Variable fonts are
kept as one face at their default instance (:attr:`FontInfo.variable` says so).
:func:`font_file` finds one font file by name (for drawing labels, no font tools needed).
"""
from __future__ import annotations

import json
import logging
import os
import struct
import tempfile
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from mstr.errors import UserError
from mstr.fonts.info import DOTTED_CIRCLE, FONT_EXTENSIONS, FontInfo, design_of, from_ranges, to_ranges
from mstr.scripts import SCRIPT_RANGES

__all__ = ["discover_fonts", "default_font_dirs", "font_file"]

log = logging.getLogger(__name__)

_CACHE_VERSION = 1
_CACHE_FILE = f"fonts-v{_CACHE_VERSION}.json"


def default_font_dirs() -> list[Path]:
    """System and user font folders, then the ``os.pathsep``-separated ``$MSTR_FONT_DIRS``."""
    dirs = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"),
            Path("~/.local/share/fonts").expanduser()]
    extra = os.environ.get("MSTR_FONT_DIRS", "")
    dirs += [Path(d).expanduser() for d in extra.split(os.pathsep) if d.strip()]
    return dirs


def _cache_dir() -> Path:
    env = os.environ.get("MSTR_CACHE_DIR")
    return Path(env).expanduser() if env else Path("~/.cache/mstr").expanduser()


@lru_cache(maxsize=1)
def _checked_codepoints() -> frozenset[int]:
    """Code points whose glyphs are checked for ink: the supported scripts' blocks, ASCII, ◌."""
    cps: set[int] = set(range(0x21, 0x7F)) | {ord(DOTTED_CIRCLE)}
    for ranges in SCRIPT_RANGES.values():
        for lo, hi in ranges:
            cps.update(range(lo, hi + 1))
    return frozenset(cp for cp in cps
                     if unicodedata.category(chr(cp)) not in ("Zs", "Cc", "Cf", "Cn", "Zl", "Zp"))


def _ot_script_tags(tt: Any) -> list[str]:
    """Script tags of GSUB and GPOS, read from the raw ScriptList (cheap, no table decompile)."""
    tags: set[str] = set()
    for table in ("GSUB", "GPOS"):
        if table not in tt.reader:
            continue
        data = tt.reader[table]
        try:
            offset = struct.unpack(">H", data[4:6])[0]
            (count,) = struct.unpack(">H", data[offset:offset + 2])
            for i in range(count):
                start = offset + 2 + 6 * i
                tags.add(data[start:start + 4].decode("latin-1"))
        except (struct.error, IndexError):
            continue
    return sorted(tags)


def _blank_codepoints(tt: Any, cmap: dict[int, str]) -> set[int]:
    """Checked code points whose glyph is ``.notdef`` or has no outline."""
    glyph_ids = tt.getReverseGlyphMap()
    blank = {cp for cp, name in cmap.items() if glyph_ids.get(name, 0) == 0}
    todo = [cp for cp in cmap.keys() & _checked_codepoints() if cp not in blank]
    if not todo:
        return blank
    if "glyf" in tt.reader and "loca" in tt.reader:
        loca = tt["loca"]
        for cp in todo:
            gid = glyph_ids[cmap[cp]]
            if gid + 1 < len(loca) and loca[gid + 1] - loca[gid] == 0:
                blank.add(cp)
    elif "CFF " in tt.reader or "CFF2" in tt.reader:
        from fontTools.pens.boundsPen import ControlBoundsPen

        glyphs = tt.getGlyphSet()
        for cp in todo:
            pen = ControlBoundsPen(glyphs)
            glyphs[cmap[cp]].draw(pen)
            if pen.bounds is None:
                blank.add(cp)
    return blank


def read_font_file(path: str) -> list[dict[str, Any]]:
    """Read every face of one font file into cache records (raises on a broken file)."""
    from fontTools.ttLib import TTFont

    with open(path, "rb") as fh:
        head = fh.read(12)
    n_faces = struct.unpack(">I", head[8:12])[0] if head[:4] == b"ttcf" else 1
    if n_faces < 1:
        raise ValueError("font collection with no faces")
    faces = []
    for index in range(n_faces):
        tt = TTFont(path, fontNumber=index if head[:4] == b"ttcf" else -1, lazy=True)
        try:
            names = tt["name"]
            family = (names.getDebugName(16) or names.getDebugName(1) or Path(path).stem).strip()
            style = (names.getDebugName(17) or names.getDebugName(2) or "").strip()
            cmap = tt.getBestCmap() or {}
            blank = _blank_codepoints(tt, cmap) if cmap else set()
            faces.append({
                "family": family,
                "style": style,
                "cps": to_ranges(cp for cp in cmap if cp not in blank),
                "ot": _ot_script_tags(tt),
                "var": "fvar" in tt.reader,
            })
        finally:
            tt.close()
    return faces


def _load_cache(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("version") == _CACHE_VERSION and isinstance(data.get("files"), dict):
            return data["files"]
    except (OSError, ValueError, AttributeError):
        pass
    return {}


def _save_cache(path: Path, files: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fonts-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"version": _CACHE_VERSION, "files": files}, fh, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache only costs speed
        log.debug("could not write the font cache %s: %s", path, exc)


def _find_font_files(roots: Sequence[Path]) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every font file under ``roots``; one path per real file."""
    by_real: dict[str, tuple[str, int, int]] = {}

    def add(p: str) -> None:
        if not p.lower().endswith(FONT_EXTENSIONS):
            return
        try:
            st = os.stat(p)
        except OSError:
            return
        real = os.path.realpath(p)
        if real not in by_real or p < by_real[real][0]:
            by_real[real] = (p, st.st_size, st.st_mtime_ns)

    for root in roots:
        root_s = os.path.abspath(os.path.expanduser(str(root)))
        if os.path.isfile(root_s):
            add(root_s)
            continue
        seen_dirs: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(root_s, followlinks=True):
            real_dir = os.path.realpath(dirpath)
            if real_dir in seen_dirs:  # symlink loop
                dirnames[:] = []
                continue
            seen_dirs.add(real_dir)
            dirnames.sort()
            for name in sorted(filenames):
                add(os.path.join(dirpath, name))
    return sorted(by_real.values())


#: in-process memo: path → (size, mtime_ns, faces or error string)
_MEMO: dict[str, tuple[int, int, tuple[FontInfo, ...] | str]] = {}


def _infos(path: str, record: dict[str, Any]) -> tuple[FontInfo, ...]:
    return tuple(
        FontInfo(path=path, index=i, family=face["family"], design=design_of(face["family"]),
                 style=face["style"], codepoints=from_ranges(face["cps"]),
                 ot_scripts=frozenset(face["ot"]), variable=bool(face["var"]))
        for i, face in enumerate(record["faces"]))


def _read_all(todo: list[tuple[str, int, int]], disk: dict[str, Any],
              results: dict[str, tuple[FontInfo, ...] | str], cache_path: Path) -> None:
    from tqdm.auto import tqdm

    for n, (path, size, mtime) in enumerate(
            tqdm(todo, desc="Reading font cmaps", unit="file", disable=None), 1):
        if n % 500 == 0:  # an interrupted cold scan keeps what it read
            _save_cache(cache_path, disk)
        rec: dict[str, Any] = {"size": size, "mtime_ns": mtime, "faces": [], "error": None}
        value: tuple[FontInfo, ...] | str
        try:
            rec["faces"] = read_font_file(path)
            value = _infos(path, rec)
        except Exception as exc:  # noqa: BLE001 - any broken font is skipped, never fatal
            rec["faces"], rec["error"] = [], f"{type(exc).__name__}: {exc}"[:300]
            value = rec["error"]
        disk[path] = rec
        results[path] = value
        _MEMO[path] = (size, mtime, value)


def discover_fonts(dirs: Sequence[str | Path] | None = None) -> list[FontInfo]:
    """Every readable face of every ``.ttf .otf .ttc .otc .woff .woff2`` file under ``dirs``.

    ``dirs`` defaults to :func:`default_font_dirs` (missing folders are skipped); a file may be
    given instead of a folder. Sorted by (path, index). Broken or unreadable files are skipped with
    one warning. cmaps are cached on disk, so only new or changed files are read again.
    """
    roots = default_font_dirs() if dirs is None else [Path(d) for d in dirs]
    files = _find_font_files(roots)
    cache_path = _cache_dir() / _CACHE_FILE
    disk: dict[str, Any] | None = None
    dirty = False
    todo: list[tuple[str, int, int]] = []
    results: dict[str, tuple[FontInfo, ...] | str] = {}
    for path, size, mtime in files:
        memo = _MEMO.get(path)
        if memo is not None and memo[0] == size and memo[1] == mtime:
            results[path] = memo[2]
            continue
        if disk is None:
            disk = _load_cache(cache_path)
        rec = disk.get(path)
        if rec is not None and rec.get("size") == size and rec.get("mtime_ns") == mtime:
            try:
                value: tuple[FontInfo, ...] | str = rec["error"] or _infos(path, rec)
            except (KeyError, TypeError, ValueError):
                todo.append((path, size, mtime))
                continue
            results[path] = value
            _MEMO[path] = (size, mtime, value)
        else:
            todo.append((path, size, mtime))

    if todo:
        try:
            import fontTools  # noqa: F401
        except ImportError as exc:
            raise UserError("reading fonts needs fontTools: pip install 'mstr[synth]'") from exc

        if disk is None:
            disk = _load_cache(cache_path)
        ft_log = logging.getLogger("fontTools")  # its warnings (odd timestamps…) are noise here
        level = ft_log.level
        ft_log.setLevel(max(level, logging.ERROR))
        try:
            _read_all(todo, disk, results, cache_path)
        finally:
            ft_log.setLevel(level)
        dirty = True
    if disk is not None:
        for stale in [p for p in disk if not os.path.exists(p)]:
            del disk[stale]
            dirty = True
        if dirty:
            _save_cache(cache_path, disk)

    broken = [(p, v) for p, v in results.items() if isinstance(v, str)]
    if broken:
        shown = "; ".join(f"{p} ({err})" for p, err in broken[:3])
        more = f" and {len(broken) - 3} more" if len(broken) > 3 else ""
        log.warning("skipped %d unreadable font file(s): %s%s", len(broken), shown, more)
    fonts = [f for v in results.values() if not isinstance(v, str) for f in v]
    fonts.sort(key=lambda f: (f.path, f.index))
    return fonts


def font_file(name: str, dirs: Sequence[str | Path] | None = None) -> str | None:
    """The path of the first font file called ``name`` under ``dirs`` (default: the font folders
    of :func:`default_font_dirs`, walked in sorted order), or None. Reads no font."""
    for root in default_font_dirs() if dirs is None else [Path(d) for d in dirs]:
        for dirpath, dirnames, filenames in os.walk(os.path.expanduser(str(root))):
            dirnames.sort()
            if name in filenames:
                return os.path.join(dirpath, name)
    return None

"""Font discovery, per-language coverage and the deterministic train / held-out font split.

* :func:`discover_fonts` walks the font folders, reads every face's cmap once and caches it on
  disk (``$MSTR_CACHE_DIR`` or ``~/.cache/mstr``), keyed by (path, size, mtime).
* A font is *usable* for a language when it has every required character of the language's
  charset (letters and diacritics, virama and nukta included), real OpenType shaping tables for
  the script (Indic and Arabic), and, for Latin, when its Latin glyphs are a design of their own
  (see :func:`_other_script_reason`).
* The split is by **design**, not by file: a design is a typographic family with its width,
  optical-size, UI, slant and weight qualifiers removed, so that "Noto Sans Devanagari UI",
  "Noto Sans Devanagari" and "Noto Sans Devanagari ExtraCondensed Bold" always fall on the same
  side. Designs are ordered by ``sha1("<script>:<design>")`` (stable across machines) and the
  first quarter (at least one when there are two or more) is held out. The split is made per
  *script* over the designs usable for any supported language of that script, so languages that
  share a script (hi / mr, bn / as) never see a held-out design of one another in training.

What the cmap says is checked against the glyphs: code points that map to ``.notdef`` or, for
non-blank characters of the supported scripts, to an empty glyph are dropped from
:attr:`FontInfo.codepoints` (a "broken cmap" must not pass the coverage test). Variable fonts are
kept as one face at their default instance (:attr:`FontInfo.variable` says so).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import struct
import tempfile
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from mstr.errors import UserError
from mstr.scripts import SCRIPT_NAMES, SCRIPT_RANGES

__all__ = [
    "FontInfo",
    "design_of",
    "discover_fonts",
    "default_font_dirs",
    "lang_coverage",
    "missing_chars",
    "fonts_for_lang",
    "excluded_fonts",
    "split_designs",
    "split_table",
    "coverage_table",
    "DOTTED_CIRCLE",
]

log = logging.getLogger(__name__)

FONT_EXTENSIONS = (".ttf", ".otf", ".ttc", ".otc", ".woff", ".woff2")  # WOFF2 needs brotli
#: U+25CC, the base shaping engines draw a combining mark on when it stands alone.
DOTTED_CIRCLE = "\u25cc"
HELDOUT_FRACTION = 0.25
SPLITS = ("train", "heldout", "all")
_CACHE_VERSION = 1
_CACHE_FILE = f"fonts-v{_CACHE_VERSION}.json"

#: OpenType script tags (old and new Indic shapers), one of which a font needs in its GSUB/GPOS
#: script list to be shaped for the script (else conjuncts, reordering or joining go wrong).
OT_SCRIPT_TAGS: dict[str, tuple[str, ...]] = {
    "Deva": ("deva", "dev2"), "Beng": ("beng", "bng2"), "Guru": ("guru", "gur2"),
    "Gujr": ("gujr", "gjr2"), "Orya": ("orya", "ory2"), "Taml": ("taml", "tml2"),
    "Telu": ("telu", "tel2"), "Knda": ("knda", "knd2"), "Mlym": ("mlym", "mlm2"),
    "Arab": ("arab",),
}

#: Debian packages that provide fonts for each script (for the "no font" error message).
FONT_PACKAGES: dict[str, tuple[str, ...]] = {
    "Latn": ("fonts-dejavu-core", "fonts-noto-core"),
    "Deva": ("fonts-noto-core", "fonts-lohit-deva"),
    "Beng": ("fonts-noto-core", "fonts-lohit-beng-bengali"),
    "Guru": ("fonts-noto-core", "fonts-lohit-guru"),
    "Gujr": ("fonts-noto-core", "fonts-lohit-gujr"),
    "Orya": ("fonts-noto-core", "fonts-lohit-orya"),
    "Taml": ("fonts-noto-core", "fonts-lohit-taml"),
    "Telu": ("fonts-noto-core", "fonts-lohit-telu"),
    "Knda": ("fonts-noto-core", "fonts-lohit-knda"),
    "Mlym": ("fonts-noto-core", "fonts-lohit-mlym"),
    "Arab": ("fonts-noto-core", "fonts-paktype"),
}
_LANG_PACKAGES: dict[str, tuple[str, ...]] = {"as": ("fonts-noto-core", "fonts-lohit-beng-assamese")}

#: Fonts that have the code points but are known to render the script wrongly: family → reason.
#: Empty today: every usable font of the Debian packages listed in the README shapes (a conjunct
#: or joined word rendered through HarfBuzz/raqm differs from the unshaped rendering).
KNOWN_BAD_FAMILIES: dict[str, str] = {}

# ----------------------------------------------------------------------------------------------
# FontInfo


@dataclass(frozen=True)
class FontInfo:
    """One face of one font file.

    ``codepoints`` is the cmap less code points mapped to ``.notdef`` or to an empty glyph.
    Equality and hashing ignore ``codepoints`` (a face is identified by path and index).
    """

    path: str
    index: int  # face index inside .ttc / .otc collections (0 otherwise)
    family: str  # typographic family (name ID 16, else 1)
    design: str  # family without width / UI / optical-size / slant / weight qualifiers
    style: str  # typographic subfamily (name ID 17, else 2)
    codepoints: frozenset[int] = field(default=frozenset(), compare=False, hash=False, repr=False)
    ot_scripts: frozenset[str] = field(default=frozenset(), compare=False, hash=False)
    variable: bool = False  # has an ``fvar`` table (used at its default instance)

    @property
    def name(self) -> str:
        return f"{self.family} {self.style}".strip()

    def has(self, text: str) -> bool:
        """True when every code point of ``text`` is in the font's cmap."""
        cps = self.codepoints
        return all(ord(ch) in cps for ch in text)


# ----------------------------------------------------------------------------------------------
# design names

_QUALIFIER = (
    r"UI|Display|Text|Slanted|Italic|Oblique|Upright|Inclined|Classical|Mono|Math|Symbols|"
    r"(?:Semi|Extra|Ultra)?\s?(?:Condensed|Expanded)|Narrow|Wide|Cond|SemCond|ExtCond|"
    r"Thin|Hairline|(?:Extra|Ultra)\s?Light|Light|Book|Regular|Normal|Medium|"
    r"(?:Semi|Demi|Extra|Ultra)\s?Bold|Bold|Black|Heavy|Blk|Med|SemBd|ExtBd|ExtLt"
)
_TRAILING_QUALIFIER = re.compile(rf"[\s_-]+(?:{_QUALIFIER})$", re.IGNORECASE)
_TRAILING_VERSION = re.compile(r"[\s_.-]*\d+(?:\.\d+)*$")
#: Families whose glyphs are another family's design under another name.
_DESIGN_ALIASES: tuple[tuple[re.Pattern[str], str], ...] = (
    # same Bengali-script drawings, Assamese letters added
    (re.compile(r"^Lohit Assamese$"), "Lohit Bengali"),
    # the Devanagari designs localised for Marathi / Nepali / Sanskrit (same drawings)
    (re.compile(r"^Lohit (?:Marathi|Nepali)$"), "Lohit Devanagari"),
    (re.compile(r"^Tiro Devanagari (?:Hindi|Marathi|Sanskrit)$"), "Tiro Devanagari"),
    # the TeX Gyre math font built on DejaVu Serif
    (re.compile(r"^DejaVu Math TeX Gyre$"), "DejaVu Serif"),
    # one Naskh design localised for Urdu, Farsi, Sindhi, South Asia
    (re.compile(r"^PakType Naskh Basic\b.*$"), "PakType Naskh Basic"),
)


def design_of(family: str) -> str:
    """The unit of the train / held-out split: ``family`` without trailing qualifiers.

    >>> design_of("Noto Sans Devanagari UI"), design_of("Noto Sans Arabic ExtCond")
    ('Noto Sans Devanagari', 'Noto Sans Arabic')
    """
    name = " ".join(family.split())
    while True:
        new = _TRAILING_VERSION.sub("", name) if not name.isdigit() else name
        new = _TRAILING_QUALIFIER.sub("", new).strip()
        if not new or new == name:
            break
        name = new
    for pattern, design in _DESIGN_ALIASES:
        if pattern.match(name):
            return design
    return name


# ----------------------------------------------------------------------------------------------
# reading fonts


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


def _to_ranges(cps: Iterable[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for cp in sorted(cps):
        if out and cp == out[-1][1] + 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def _from_ranges(ranges: list[list[int]]) -> frozenset[int]:
    return frozenset().union(*[range(lo, hi + 1) for lo, hi in ranges])


def _read_font_file(path: str) -> list[dict[str, Any]]:
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
                "cps": _to_ranges(cp for cp in cmap if cp not in blank),
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
                 style=face["style"], codepoints=_from_ranges(face["cps"]),
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
            rec["faces"] = _read_font_file(path)
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


# ----------------------------------------------------------------------------------------------
# coverage


@lru_cache(maxsize=None)
def _charset(lang: str) -> Any:
    from mstr.charsets import load_charset

    return load_charset(lang)


@lru_cache(maxsize=None)
def _all_langs() -> tuple[str, ...]:
    from mstr.charsets import ALL_LANGS

    return tuple(ALL_LANGS)


def _items(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [value] if len(value) <= 1 else list(value)
    return [str(v) for v in value if v]


@lru_cache(maxsize=None)
def _required_items(charset: Any) -> tuple[str, ...]:
    items = _items(charset.letters) + _items(charset.diacritics)
    items += _items(getattr(charset, "virama", None)) + _items(getattr(charset, "nukta", None))
    return tuple(dict.fromkeys(items))


def _required(charset: Any) -> tuple[str, ...]:
    try:
        return _required_items(charset)
    except TypeError:  # unhashable charset object
        return _required_items.__wrapped__(charset)


def missing_chars(font: FontInfo, charset: Any) -> list[str]:
    """The required characters (letters, diacritics) of ``charset`` that ``font`` lacks."""
    return [item for item in _required(charset) if not font.has(item)]


def lang_coverage(font: FontInfo, charset: Any) -> float:
    """Fraction of the charset's required characters (letters + diacritics) the font has.

    U+25CC (dotted circle) is not counted here; see ``font.has(DOTTED_CIRCLE)``.
    """
    if isinstance(charset, str):
        charset = _charset(charset)
    required = _required(charset)
    if not required:
        return 1.0
    return sum(1 for item in required if font.has(item)) / len(required)


# ----------------------------------------------------------------------------------------------
# usability


_SCRIPT_WORDS = {
    "Deva": "Devanagari|Hindi|Marathi|Nepali|Sanskrit",
    "Beng": "Bengali|Bangla|Assamese",
    "Guru": "Gurmukhi|Punjabi",
    "Gujr": "Gujarati",
    "Orya": "Oriya|Odia",
    "Taml": "Tamil",
    "Telu": "Telugu",
    "Knda": "Kannada",
    "Mlym": "Malayalam",
    "Arab": "Arabic|Urdu|Naskh|Nastaliq|Kufi|Farsi|Persian|Sindhi",
}
_OTHER_SCRIPT_NAME = re.compile(
    r"\b(?:" + "|".join(_SCRIPT_WORDS.values()) + r"|Armenian|Georgian|Hebrew|Thai|Lao|Khmer|"
    r"Myanmar|Sinhala|Tibetan|Ethiopic|Cherokee|Mongolian|Syriac|Thaana|Grantha|Adlam|"
    r"CJK|Han|Kana|Hangul|Japanese|Korean|Chinese)\b",
    re.IGNORECASE,
)
#: a font with at least this many code points outside the supported non-Latin scripts is a
#: pan-Unicode font (DejaVu): its Latin is its own design even though it also has Arabic.
_PAN_UNICODE_MIN = 1000


@lru_cache(maxsize=None)
def _script_letters() -> dict[str, frozenset[int]]:
    """Letters (code points) of each supported script, from the charsets of ALL_LANGS."""
    out: dict[str, set[int]] = {}
    for lang in _all_langs():
        cs = _charset(lang)
        out.setdefault(cs.script, set()).update(
            ord(c) for item in _items(cs.letters) for c in item)
    return {s: frozenset(v) for s, v in out.items()}


@lru_cache(maxsize=None)
def _non_latin_block_codepoints() -> frozenset[int]:
    return frozenset(cp for s, ranges in SCRIPT_RANGES.items() if s != "Latn"
                     for lo, hi in ranges for cp in range(lo, hi + 1))


#: Latin, Greek, Cyrillic and their extensions (IPA, Latin Extended, math alphanumerics)
_EUROPEAN_RANGES = ((0x0000, 0x052F), (0x1D00, 0x1FFF), (0x2C60, 0x2C7F), (0xA720, 0xA7FF),
                    (0xAB30, 0xAB6F), (0xFB00, 0xFB06), (0x1D400, 0x1D7FF))


@lru_cache(maxsize=None)
def _other_script_reason(font: FontInfo) -> str | None:
    """Why ``font`` is a font of another script whose Latin glyphs are borrowed, or None.

    Such fonts (Lohit Devanagari, Amiri, Rasa, the Arabeyes fonts…) take their Latin from a Latin
    family (often one also installed, e.g. Rasa's is Yrsa's), so their Latin is no design of its
    own and would leak between the Latin train and held-out sets. A font is one when its family
    names another script, or, unless it is a pan-Unicode font (DejaVu Sans: at least 1000 code
    points outside the supported non-Latin scripts), when it has 60% (at most 40) of the letters
    of a supported non-Latin script, or more letters of other scripts than half its
    Latin/Greek/Cyrillic letters (20 at least: Saurashtra, Nushu… fonts).
    """
    m = _OTHER_SCRIPT_NAME.search(font.family)
    if m:
        return f"family name names another script ({m.group(0)})"
    cps = font.codepoints
    if len(cps - _non_latin_block_codepoints()) >= _PAN_UNICODE_MIN:
        return None
    for script, letters in sorted(_script_letters().items()):
        if script == "Latn" or not letters:
            continue
        have = len(cps & letters)
        if have >= min(40, max(1, round(0.6 * len(letters)))):
            return f"a {SCRIPT_NAMES.get(script, script)} font ({have} of its letters)"
    european = other = 0
    for cp in cps:
        if unicodedata.category(chr(cp)).startswith("L"):
            if any(lo <= cp <= hi for lo, hi in _EUROPEAN_RANGES):
                european += 1
            else:
                other += 1
    if other >= 20 and other > european / 2:
        return f"mainly a font of another script ({other} non-Latin letters, {european} Latin)"
    return None


def _shaping_reason(font: FontInfo, script: str) -> str | None:
    if font.family in KNOWN_BAD_FAMILIES:
        return KNOWN_BAD_FAMILIES[font.family]
    tags = OT_SCRIPT_TAGS.get(script)
    if tags and not font.ot_scripts.intersection(tags):
        return f"no OpenType shaping tables for {SCRIPT_NAMES.get(script, script)} ({'/'.join(tags)})"
    return None


def _classify(lang: str, fonts: Sequence[FontInfo]) -> tuple[list[FontInfo], list[tuple[FontInfo, str]]]:
    """(usable fonts, [(font, reason)] for fonts with full coverage that are still excluded)."""
    cs = _charset(lang)
    required = _required(cs)
    candidates = sorted((f for f in fonts if all(f.has(item) for item in required)),
                        key=lambda f: (f.path, f.index))
    excluded: dict[FontInfo, str] = {}
    for f in candidates:
        reason = _shaping_reason(f, cs.script)
        if reason:
            excluded[f] = reason
    if cs.script == "Latn":
        bad_designs: dict[str, str] = {}
        for f in candidates:  # judged per design: one non-Latin file taints the whole design
            if f.design not in bad_designs:
                reason = _other_script_reason(f)
                if reason:
                    bad_designs[f.design] = f"{reason}: its Latin glyphs are not a design of their own"
        for f in candidates:
            if f.design in bad_designs and f not in excluded:
                excluded[f] = bad_designs[f.design]
    usable = [f for f in candidates if f not in excluded]
    return usable, sorted(excluded.items(), key=lambda kv: (kv[0].path, kv[0].index))


def excluded_fonts(lang: str, fonts: Sequence[FontInfo] | None = None) -> list[tuple[FontInfo, str]]:
    """Fonts that cover ``lang`` but are not used for it, with the reason."""
    return _classify(lang, discover_fonts() if fonts is None else fonts)[1]


# ----------------------------------------------------------------------------------------------
# the split


def _design_key(script: str, design: str) -> str:
    return hashlib.sha1(f"{script}:{design}".encode("utf-8")).hexdigest()


def split_designs(script: str, usable: dict[str, set[str]]) -> set[str]:
    """Held-out designs of one script, given each language's usable designs.

    Designs (the union over languages) are ordered by ``sha1("<script>:<design>")``; the first
    ``max(1, round(0.25 * n))`` are held out when ``n >= 2``, skipping a language's only design.
    Then no language may be left with no training design, and every language with two or more
    designs gets at least one held-out design (its first design in that order).
    """
    order = sorted(set().union(*usable.values()) if usable else set(),
                   key=lambda d: _design_key(script, d))
    if len(order) < 2:
        return set()
    protected = set().union(*(d for d in usable.values() if len(d) == 1))
    k = max(1, round(HELDOUT_FRACTION * len(order)))
    held = set([d for d in order if d not in protected][:k])
    for lang in sorted(usable):
        designs = usable[lang]
        while designs and designs <= held:
            held.discard(max(designs & held, key=lambda d: _design_key(script, d)))
    for lang in sorted(usable):
        designs = usable[lang]
        if len(designs) >= 2 and not designs & held:
            for d in sorted(designs, key=lambda d: _design_key(script, d)):
                if all(not (u <= held | {d}) for u in usable.values() if u):
                    held.add(d)
                    break
    return held


_WARNED: set[tuple[str, str]] = set()


def _script_split(script: str, fonts: Sequence[FontInfo]) -> tuple[dict[str, list[FontInfo]], set[str]]:
    """Usable fonts of every supported language of ``script`` and the script's held-out designs."""
    langs = [lang for lang in _all_langs() if _charset(lang).script == script]
    usable = {lang: _classify(lang, fonts)[0] for lang in langs}
    held = split_designs(script, {lang: {f.design for f in fs} for lang, fs in usable.items()})
    return usable, held


def _no_font_error(lang: str, script: str, fonts: Sequence[FontInfo]) -> UserError:
    cs = _charset(lang)
    packages = _LANG_PACKAGES.get(lang) or FONT_PACKAGES.get(script, ("fonts-noto-core",))
    name = SCRIPT_NAMES.get(script, script)
    msg = f"no usable font for the {name} script ({script}), needed by language '{lang}': "
    excluded = _classify(lang, fonts)[1]
    if excluded:
        msg += (f"the {len(excluded)} fonts with all its letters and diacritics are excluded "
                f"({excluded[0][0].name}: {excluded[0][1]})")
    else:
        msg += f"none of the {len(fonts)} fonts found has all its letters and diacritics"
        best = max(fonts, key=lambda f: (lang_coverage(f, cs), f.path), default=None)
        miss = missing_chars(best, cs) if best is not None else []
        if best is not None and len(miss) < len(_required(cs)):
            shown = " ".join(f"U+{ord(m[0]):04X}" for m in miss[:8])
            msg += f" (closest: {best.name}, lacking {len(miss)}: {shown})"
    msg += (f". Install one, e.g. `sudo apt-get install {' '.join(packages)}`, or put .ttf/.otf "
            f"files in a folder listed in MSTR_FONT_DIRS")
    return UserError(msg)


def fonts_for_lang(lang: str, split: str = "train", *, fonts: list[FontInfo] | None = None,
                   pool: str | os.PathLike[str] | None = None) -> list[FontInfo]:
    """Fonts usable for ``lang`` on one side of the design split.

    ``split``: ``"train"``, ``"heldout"`` or ``"all"``. Raises :class:`UserError` (with the
    Debian package to install) when no font at all can render the language.
    Font source: ``fonts`` when given; else the font pool folder ``pool`` or, without it,
    ``$MSTR_FONT_POOL`` (its own split, see :mod:`mstr.synth.fontpool`); else system fonts.
    """
    if split not in SPLITS:
        raise UserError(f"unknown font split {split!r}: use one of {', '.join(SPLITS)}")
    if fonts is None:
        from mstr.synth import fontpool

        if fontpool.resolve_pool(pool) is not None:
            return fontpool.pool_fonts_for_lang(lang, split, pool)
    cs = _charset(lang)
    fonts = discover_fonts() if fonts is None else fonts
    usable, held = _script_split(cs.script, fonts)
    mine = usable.get(lang)
    if mine is None:  # a language outside ALL_LANGS
        mine = _classify(lang, fonts)[0]
    if not mine:
        raise _no_font_error(lang, cs.script, fonts)
    if not held & {f.design for f in mine} and (cs.script, lang) not in _WARNED:
        _WARNED.add((cs.script, lang))
        log.warning("only one usable font design for '%s' (%s: %s): no font is held out, so "
                    "held-out-font tests are impossible for it; install more fonts (e.g. %s)",
                    lang, SCRIPT_NAMES.get(cs.script, cs.script), mine[0].design,
                    " ".join(_LANG_PACKAGES.get(lang) or FONT_PACKAGES.get(cs.script, ())))
    if split == "all":
        return list(mine)
    want_held = split == "heldout"
    return [f for f in mine if (f.design in held) == want_held]


def split_table(langs: Sequence[str], fonts: Sequence[FontInfo] | None = None) -> list[dict]:
    """Per language: number of usable fonts and designs, and the train / held-out designs."""
    fonts = discover_fonts() if fonts is None else list(fonts)
    rows = []
    for lang in langs:
        cs = _charset(lang)
        usable, held = _script_split(cs.script, fonts)
        mine = usable.get(lang) or _classify(lang, fonts)[0]
        designs = sorted({f.design for f in mine})
        rows.append({
            "lang": lang,
            "script": cs.script,
            "fonts": len(mine),
            "designs": len(designs),
            "train_fonts": sum(1 for f in mine if f.design not in held),
            "heldout_fonts": sum(1 for f in mine if f.design in held),
            "train_designs": [d for d in designs if d not in held],
            "heldout_designs": [d for d in designs if d in held],
            "excluded": len(_classify(lang, fonts)[1]),
        })
    return rows


def coverage_table(langs: Sequence[str], fonts: Sequence[FontInfo] | None = None) -> str:
    """The table ``mstr synth fonts`` prints: one row per design, then a summary per language.

    Each language column shows the best coverage (%) of the design's files and a marker:
    ``T`` train, ``H`` held out, ``x`` covered but excluded, ``-`` not usable. ``◌`` says whether
    the design's files have U+25CC, needed to render a combining mark alone.
    """
    fonts = discover_fonts() if fonts is None else list(fonts)
    langs = list(langs)
    by_design: dict[str, list[FontInfo]] = {}
    for f in fonts:
        by_design.setdefault(f.design, []).append(f)
    info = {}
    for lang in langs:
        cs = _charset(lang)
        usable, held = _script_split(cs.script, fonts)
        mine = usable.get(lang) or _classify(lang, fonts)[0]
        info[lang] = (cs, {f.design for f in mine}, held,
                      {f.design for f, _ in _classify(lang, fonts)[1]})
    rows, hidden = [], 0
    for design in sorted(by_design, key=str.casefold):
        files = by_design[design]
        cells, show, only_excluded = [], False, False
        for lang in langs:
            cs, usable_designs, held, excluded = info[lang]
            cov = max(lang_coverage(f, cs) for f in files)
            if design in usable_designs:
                mark = "H" if design in held else "T"
            else:
                mark = "x" if design in excluded else "-"
            show |= cov >= 0.5 and mark != "x"
            only_excluded |= mark == "x"
            cells.append(f"{100 * cov:5.1f} {mark}" if cov > 0 else "    . -")
        if not show:  # covers none of the languages (or only as an excluded font)
            hidden += only_excluded
            continue
        n_circle = sum(1 for f in files if f.has(DOTTED_CIRCLE))
        circle = "yes" if n_circle == len(files) else ("some" if n_circle else "no")
        rows.append((design, str(len(files)), circle, *cells))
    head = ("design", "files", "\u25cc", *langs)
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    widths[3:] = [max(w, 7) for w in widths[3:]]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))) for r in [head, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    lines.append("T train, H held out, x covers the language but excluded (see the summary), "
                 "- not usable; \u25cc: has U+25CC (dotted circle) for marks shown alone")
    if hidden:
        lines.append(f"{hidden} more designs cover a language only as excluded fonts and are not "
                     "listed (e.g. Indic and Arabic fonts with borrowed Latin glyphs)")
    for row in split_table(langs, fonts):
        lines.append("")
        lines.append(f"{row['lang']} ({SCRIPT_NAMES.get(row['script'], row['script'])}): "
                     f"{row['fonts']} fonts, {row['designs']} designs, "
                     f"{row['excluded']} covering fonts excluded")
        lines.append(f"  train    ({len(row['train_designs'])} designs, {row['train_fonts']} fonts): "
                     + (", ".join(row["train_designs"]) or "none"))
        lines.append(f"  held out ({len(row['heldout_designs'])} designs, "
                     f"{row['heldout_fonts']} fonts): "
                     + (", ".join(row["heldout_designs"]) or "none"))
    return "\n".join(lines)

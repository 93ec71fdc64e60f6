"""Font-pool building blocks: subset / merge one font into a pool file, check it, read licences.

Used by ``tools/build_font_pool.py`` only (never by training or inference code). A pool file is
one design for one script: the source font (or, for a Google Fonts family, its script subset
merged with its ``latin`` subset, so that digits and punctuation are there) cut down to the
code points the script's languages use plus ASCII and a little common punctuation, with every
OpenType layout feature kept, and saved as WOFF2 (read by Pillow's FreeType and by fontTools
with ``brotli``).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

from mstr.scripts import SCRIPT_RANGES

__all__ = ["keep_codepoints", "make_pool_font", "case_problem", "legibility", "debian_licence", "rare_letters",
           "lacking_letters", "RARE_SHARE", "MAX_RARE_MISSING",
           "BuildResult", "build_and_check", "build_alone", "limit_worker_memory", "MIN_LEGIBILITY"]

#: Kept in every pool file: ASCII, no-break space, dashes, quotes, ellipsis, ₹, ◌, ZWNJ / ZWJ,
#: the dandas.
_COMMON_KEEP = ((0x20, 0x7E), (0xA0, 0xA0), (0x2010, 0x2015), (0x2018, 0x201F), (0x2026, 0x2026),
                (0x20B9, 0x20B9), (0x25CC, 0x25CC), (0x200C, 0x200D), (0x0964, 0x0965))


def keep_codepoints(script: str) -> set[int]:
    """Code points a pool file of ``script`` keeps (Latin: the common set only)."""
    cps = {cp for lo, hi in _COMMON_KEEP for cp in range(lo, hi + 1)}
    if script != "Latn":
        for lo, hi in SCRIPT_RANGES[script]:
            if script == "Arab" and lo >= 0xFB50:  # presentation forms: reached through GSUB
                continue
            cps.update(range(lo, hi + 1))
    return cps


def make_pool_font(sources: Sequence[str | Path], script: str, out: str | Path,
                   index: int = 0) -> None:
    """Write ``out`` (WOFF2): ``sources`` merged (if several) and subset for ``script``.

    Several sources are subsets of one family (Google Fonts' ``devanagari`` and ``latin``
    files); they are merged with ``fontTools.merge`` first. The bytes depend on the sources only:
    the ``head`` table's creation and modification times are the sources' (the earliest and the
    latest of them; fontTools would stamp the time of the build), so that a rebuilt pool has the same files and the same fingerprints
    (``mstr.synth.generate.fonts_record``).
    """
    from fontTools import subset
    from fontTools.ttLib import TTFont

    if len(sources) > 1:
        from fontTools.merge import Merger, Options

        font = Merger(options=Options(drop_tables=["DSIG"])).merge([str(s) for s in sources])
        heads = [TTFont(str(s), lazy=True)["head"] for s in sources]
        font["head"].created = min(h.created for h in heads)   # the merger stamps both with the time
        font["head"].modified = max(h.modified for h in heads)
        font.recalcTimestamp = False
        buf = io.BytesIO()
        font.flavor = None
        font.save(buf)
        buf.seek(0)
        font = TTFont(buf, recalcTimestamp=False)
    else:
        font = TTFont(str(sources[0]), fontNumber=index, recalcTimestamp=False)
    opts = subset.Options()
    opts.layout_features = ["*"]
    opts.layout_scripts = ["*"]
    opts.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14, 16, 17]
    opts.hinting = False
    opts.notdef_outline = True
    opts.glyph_names = False
    opts.legacy_kern = True
    opts.ignore_missing_unicodes = True
    opts.drop_tables += ["DSIG"]
    opts.flavor = "woff2"
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=sorted(keep_codepoints(script)))
    sub.subset(font)
    font.flavor = "woff2"
    font.save(str(out))
    font.close()


_CASE_PAIRS = "abdeghnqrt"


def _shape_key(glyphs: Any, name: str) -> tuple | None:
    """An outline's points normalised to its box (0..50 grid): equal for scaled copies."""
    from fontTools.pens.recordingPen import DecomposingRecordingPen

    pen = DecomposingRecordingPen(glyphs)
    glyphs[name].draw(pen)
    pts = [pt for _, args in pen.value for pt in args if isinstance(pt, tuple) and len(pt) == 2]
    if not pts:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    w, h = (max(xs) - min(xs)) or 1, (max(ys) - min(ys)) or 1
    return tuple((round(50 * (x - min(xs)) / w), round(50 * (y - min(ys)) / h)) for x, y in pts)


def case_problem(path: str | Path) -> str | None:
    """Why a Latin font's lowercase cannot be told from its capitals, or None.

    Caps-only and small-caps fonts draw ``a`` as ``A``: a word rendered from a lowercase label
    would show another text than its label. A font fails when 4 or more of ``abdeghnqrt`` map
    to the capital's glyph or to a scaled copy of it.
    """
    from fontTools.ttLib import TTFont

    tt = TTFont(str(path), lazy=True)
    try:
        cmap = tt.getBestCmap() or {}
        glyphs = tt.getGlyphSet()
        same = 0
        for ch in _CASE_PAIRS:
            lo, up = cmap.get(ord(ch)), cmap.get(ord(ch.upper()))
            if lo is None or up is None:
                continue
            if lo == up or _shape_key(glyphs, lo) == _shape_key(glyphs, up):
                same += 1
    finally:
        tt.close()
    if same >= 4:
        return f"lowercase drawn as capitals ({same} of {len(_CASE_PAIRS)} test letters)"
    return None


_LICENSE_LINE = re.compile(r"^License:\s*(\S.*)$", re.MULTILINE)
_FILES_LINE = re.compile(r"^Files:\s*(.*)$", re.MULTILINE)


def debian_licence(copyright_text: str) -> str:
    """The licence of a Debian package's font files, from its ``copyright`` file.

    Machine-readable files: the ``License:`` of the first ``Files:`` stanza that is not
    ``debian/*``; free-form files: a known licence named in the text; else ``"see copyright"``.
    """
    for stanza in re.split(r"\n\s*\n", copyright_text):
        files = _FILES_LINE.search(stanza)
        lic = _LICENSE_LINE.search(stanza)
        if files and lic and not files.group(1).strip().startswith("debian/"):
            return lic.group(1).strip()
    for pattern, name in ((r"SIL OPEN FONT LICEN[CS]E|OFL", "OFL-1.1"),
                          (r"Apache License", "Apache-2.0"),
                          (r"GNU GENERAL PUBLIC LICENSE|GPL", "GPL (see copyright)"),
                          (r"Bitstream Vera", "Bitstream-Vera")):
        if re.search(pattern, copyright_text, re.IGNORECASE):
            return name
    return "see copyright"


@dataclass
class BuildResult:
    """What building one candidate gave: the file's record fields, or why it was rejected."""

    key: str
    out: str
    langs: list[str]
    problems: dict[str, list[str]]  # lang → shaping problems (empty lists for passing langs)
    rejected: str | None = None
    size: int = 0
    lacking: dict[str, str] = field(default_factory=dict)  # lang → the rare letters it lacks (rare_letters)


#: A letter or sign that fewer than this share of a language's shipped words use is *rare*: a
#: pool font may lack up to :data:`MAX_RARE_MISSING` of them and still draw the language's other
#: words (Uroob, a Malayalam signboard face, lacks only ൿ; Likhan, a Bengali hand, only ৎ).
RARE_SHARE = 0.005
MAX_RARE_MISSING = 3


@lru_cache(maxsize=None)
def rare_letters(lang: str) -> frozenset[str]:
    """The required characters of ``lang`` (:func:`mstr.fonts.coverage.required_chars`) that
    fewer than :data:`RARE_SHARE` of the words of its shipped word list hold (independent vowels
    such as ఔ, ൿ, ৎ, ॲ). None for Latin-script languages: Latin designs are plentiful, and the
    word list, in lower case, says nothing of capitals."""
    from mstr.fonts.coverage import lang_charset, required_chars
    from mstr.synth.wordlists import load_vocab

    cs = lang_charset(lang)
    if cs.script == "Latn":
        return frozenset()
    words = load_vocab(lang)
    return frozenset(c for c in required_chars(cs) if sum(c in w for w in words) < RARE_SHARE * len(words))


def lacking_letters(has: Callable[[str], bool], lang: str) -> str | None:
    """The rare letters of ``lang`` that a font lacks ("" for none; ``has(text)``: whether the
    font maps every code point of ``text``), or None when it lacks a letter that is not rare, or
    more than :data:`MAX_RARE_MISSING`."""
    from mstr.fonts.coverage import lang_charset, required_chars

    missing = [c for c in required_chars(lang_charset(lang)) if not has(c)]
    if len(missing) > MAX_RARE_MISSING or not set(missing) <= rare_letters(lang):
        return None
    return "".join(missing)


#: Time (s) and memory (GiB) one font may take to build and check (a few Devanagari fonts have
#: layout tables that fontTools takes many minutes and gigabytes to subset).
TIME_LIMIT_S = 300
MEMORY_LIMIT_GIB = 3.0
#: Latin fonts whose letters a nearest-neighbour reader reads less often than this are not text
#: faces (binary codes, dingbats, outlines of blocks); chance is about 0.03, ordinary faces 0.6–0.9.
MIN_LEGIBILITY = 0.12


def build_and_check(key: str, sources: Sequence[str], index: int, script: str,
                    langs: Sequence[str], out: str, references: Sequence[str] = ()) -> BuildResult:
    """Make the pool file ``out`` and shape-check it for each of ``langs`` (picklable worker).

    Latin fonts are also checked for lowercase drawn as capitals and, given ``references``
    (ordinary Latin fonts), for legibility. Any error on the way (a font fontTools cannot
    subset or read) rejects the font, never the build.
    """
    import signal

    def _too_slow(signum: int, frame: Any) -> None:
        raise TimeoutError(f"took over {TIME_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, _too_slow)
    signal.alarm(TIME_LIMIT_S)
    try:
        return _build_and_check(key, sources, index, script, langs, out, references)
    except Exception as exc:  # noqa: BLE001 - one broken font must not stop the pool
        return BuildResult(key, out, [], {}, rejected=f"{type(exc).__name__}: {exc}"[:200])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def limit_worker_memory(gib: float = MEMORY_LIMIT_GIB) -> None:
    """Cap this process's address space (a worker's initializer): a font whose layout tables
    fontTools cannot subset in that memory is rejected with a MemoryError, not the machine."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (int(gib * 2**30), hard))


def build_alone(key: str, sources: Sequence[str], index: int, script: str, langs: Sequence[str],
                out: str, references: Sequence[str] = (), worker: Any = None) -> BuildResult:
    """:func:`build_and_check` in a process of its own (under the memory cap): a font whose
    tables crash FreeType, HarfBuzz or fontTools (a segfault, an abort on a failed allocation)
    kills that process only, and the font is rejected instead of the whole build stopping.
    ``worker`` replaces :func:`build_and_check` (tests)."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=1, initializer=limit_worker_memory) as one:
        try:
            return one.submit(worker or build_and_check, key, sources, index, script, langs, out,
                              references).result()
        except BrokenProcessPool:
            Path(out).unlink(missing_ok=True)
            return BuildResult(key, out, [], {}, rejected=(
                "WorkerCrash: the process checking this font died (a crash in the font's tables, "
                f"or over the {MEMORY_LIMIT_GIB:g} GiB memory cap)"))


def _build_and_check(key: str, sources: Sequence[str], index: int, script: str,
                     langs: Sequence[str], out: str, references: Sequence[str]) -> BuildResult:
    from mstr.synth.shapecheck import check_font, sfnt_bytes

    make_pool_font(sources, script, out, index)
    if script == "Latn":
        reason = case_problem(out)
        if reason is None and references:
            score = legibility(out, references)
            if score < MIN_LEGIBILITY:
                reason = f"not legible as Latin letters ({score:.2f} read right, < {MIN_LEGIBILITY})"
        if reason:
            return BuildResult(key, out, [], {}, rejected=reason)
    data = sfnt_bytes(out)
    from fontTools.ttLib import TTFont

    cmap = frozenset(TTFont(io.BytesIO(data)).getBestCmap())
    rare = sorted({c for lang in langs for c in rare_letters(lang) if ord(c) in cmap})
    blank = set(inkless(out, rare)) if rare else set()  # mapped to a glyph that draws nothing
    # lang → rare letters the font lacks, unmapped or blank ("": none, or too many to be taken)
    lacking = {lang: lacking_letters(lambda t: all(ord(c) in cmap for c in t) and t not in blank, lang) or ""
               for lang in langs}
    problems = {lang: check_font(out, lang, data=data, skip=lacking[lang]) for lang in langs}
    good = [lang for lang in langs if not problems[lang]]
    rejected = None if good else "; ".join(f"{lang}: {p[0]}" for lang, p in problems.items())[:300]
    return BuildResult(key, out, good, problems, rejected=rejected, size=Path(out).stat().st_size,
                       lacking={lang: lacking[lang] for lang in good if lacking[lang]})


_LEGIBLE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _glyph_bitmaps(path: str | Path, chars: str, side: int = 16) -> Any:
    """(len(chars), side*side) float array: each character's ink box scaled to ``side``², 0..1."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(path), 48)
    out = np.zeros((len(chars), side * side), dtype=np.float32)
    for i, ch in enumerate(chars):
        img = Image.new("L", (96, 96), 0)
        ImageDraw.Draw(img).text((20, 10), ch, font=font, fill=255)
        box = img.getbbox()
        if box:
            out[i] = np.asarray(img.crop(box).resize((side, side), Image.BILINEAR), np.float32).ravel() / 255
    return out


def inkless(path: str | Path, texts: Sequence[str], size: int = 32) -> list[str]:
    """The texts of ``texts`` (spaces aside) that the font at ``path`` draws without ink: a code
    point its cmap lists but whose glyph is empty (Italiana's ``_``), which a crop of it would
    leave blank."""
    from mstr.synth.render import load_font, render_mask

    font = load_font(str(path), size)
    out = []
    for text in texts:
        if text.isspace():
            continue
        try:
            render_mask(text, font)
        except ValueError:
            out.append(text)
    return out


def legibility(path: str | Path, references: Sequence[str | Path]) -> float:
    """Share of letters and digits of a Latin font that a nearest-neighbour reader trained on
    ``references`` (ordinary fonts) reads right, case folded (0..1).

    Ordinary and display faces score well above a font whose glyphs are not letters at all
    (binary codes, dingbats, barcodes), which scores near chance (1/36).
    """
    import numpy as np

    refs = np.concatenate([_glyph_bitmaps(r, _LEGIBLE_CHARS) for r in references])
    labels = [c.lower() for c in _LEGIBLE_CHARS] * len(references)
    mine = _glyph_bitmaps(path, _LEGIBLE_CHARS)

    def norm(x: Any) -> Any:
        x = x - x.mean(axis=1, keepdims=True)
        return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-6)

    best = (norm(mine) @ norm(refs).T).argmax(axis=1)
    return float(np.mean([labels[j] == c.lower() for j, c in zip(best, _LEGIBLE_CHARS)]))

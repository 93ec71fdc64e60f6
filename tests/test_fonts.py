"""Font discovery, cmap cache, coverage and the train / held-out design split (mstr.fonts)."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fontTools")

from mstr.errors import UserError  # noqa: E402
from mstr import fonts as F  # noqa: E402
from mstr.fonts import discover as D, split as S  # noqa: E402
from mstr.synth import font_report  # noqa: E402

_USER_CACHE_DIR = os.environ.get("MSTR_CACHE_DIR")

#: a few real system fonts (Debian paths vary, so they are found by file name)
LATIN = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "NotoSans-Regular.ttf", "NotoSerif-Regular.ttf"]
DEVA = ["NotoSansDevanagari-Regular.ttf", "NotoSansDevanagariUI-Regular.ttf",
        "NotoSerifDevanagari-Regular.ttf", "Lohit-Devanagari.ttf"]
TAML = ["NotoSansTamil-Regular.ttf", "NotoSansTamilUI-Regular.ttf", "NotoSerifTamil-Regular.ttf",
        "Lohit-Tamil.ttf"]


def _find_system_fonts(names: list[str]) -> dict[str, Path]:
    wanted, found = set(names), {}
    for root in F.default_font_dirs():
        for dirpath, _, filenames in os.walk(root):
            for name in wanted.intersection(filenames):
                found.setdefault(name, Path(dirpath) / name)
    return found


@pytest.fixture(scope="module")
def system_paths() -> dict[str, Path]:
    return _find_system_fonts(LATIN + DEVA + TAML)


def _need(paths: dict[str, Path], names: list[str], script: str) -> list[Path]:
    have = [paths[n] for n in names if n in paths]
    if len(have) < 3:
        pytest.skip(f"system {script} fonts absent (need 3 of {', '.join(names)}; "
                    "install fonts-noto-core fonts-lohit-deva fonts-lohit-taml fonts-dejavu-core)")
    return have


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own on-disk cache and an empty in-process memo."""
    monkeypatch.setenv("MSTR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(D, "_MEMO", {})
    monkeypatch.setattr(S, "_WARNED", set())


@pytest.fixture(scope="module")
def fonts(system_paths, tmp_path_factory) -> list[F.FontInfo]:
    """The system fonts above, read once for the module (files given directly, not folders)."""
    files = [p for n, p in system_paths.items()]
    if not files:
        pytest.skip("no system fonts found (install fonts-dejavu-core fonts-noto-core)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MSTR_CACHE_DIR", str(tmp_path_factory.mktemp("fontcache")))
        mp.setattr(D, "_MEMO", {})
        return F.discover_fonts(files)


def _toy_font(path: Path, family: str = "Mstr Toy Condensed", variable: bool = False) -> Path:
    """A 4-glyph TrueType font: 'a' inked, 'b' empty, 'c' mapped to .notdef, space."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    def box():
        pen = TTGlyphPen(None)
        pen.moveTo((100, 0)); pen.lineTo((100, 500)); pen.lineTo((400, 500)); pen.lineTo((400, 0))
        pen.closePath()
        return pen.glyph()

    order = [".notdef", "a", "b", "space"]
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap({0x61: "a", 0x62: "b", 0x63: ".notdef", 0x20: "space"})
    fb.setupGlyf({".notdef": box(), "a": box(), "b": TTGlyphPen(None).glyph(),
                  "space": TTGlyphPen(None).glyph()})
    fb.setupHorizontalMetrics({n: (500, 0) for n in order})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": family, "styleName": "Bold"})
    fb.setupOS2()
    fb.setupPost()
    if variable:
        fb.setupFvar([("wght", 100, 400, 900, "Weight")], [])
    fb.save(str(path))
    return path


# ---------------------------------------------------------------------------------------------
# discovery and cache


def test_discover_skips_broken_files_with_one_warning(tmp_path, system_paths, caplog):
    good = _need(system_paths, DEVA, "Devanagari")[:1] + _need(system_paths, TAML, "Tamil")[:1]
    folder = tmp_path / "fonts"
    (folder / "sub").mkdir(parents=True)
    for p in good:
        shutil.copy(p, folder / "sub" / p.name)
    (folder / "garbage.ttf").write_bytes(os.urandom(512))
    (folder / "empty.otf").write_bytes(b"")
    (folder / "notes.txt").write_text("not a font")
    with caplog.at_level(logging.WARNING, logger="mstr.fonts.discover"):
        found = F.discover_fonts([folder])
    assert sorted(Path(f.path).name for f in found) == sorted(p.name for p in good)
    assert [(f.path, f.index) for f in found] == sorted((f.path, f.index) for f in found)
    warnings = [r for r in caplog.records if r.name == "mstr.fonts.discover"]
    assert len(warnings) == 1
    assert "2 unreadable" in warnings[0].getMessage() and "garbage.ttf" in warnings[0].getMessage()


def test_cmap_cache_is_used_on_the_second_call(tmp_path, system_paths, monkeypatch):
    src = _need(system_paths, TAML, "Tamil")[0]
    folder = tmp_path / "fonts"
    folder.mkdir()
    shutil.copy(src, folder / src.name)
    _toy_font(folder / "toy.ttf")
    first = F.discover_fonts([folder])
    assert (tmp_path / "cache" / D._CACHE_FILE).is_file()

    def boom(path):
        raise AssertionError(f"font {path} read again despite the cache")

    monkeypatch.setattr(D, "read_font_file", boom)
    D._MEMO.clear()  # a new process: only the disk cache is left
    second = F.discover_fonts([folder])
    assert second == first
    assert [f.codepoints for f in second] == [f.codepoints for f in first]

    # a changed file (size/mtime) is read again, the others still come from the cache
    calls = []
    monkeypatch.setattr(D, "read_font_file", lambda p: calls.append(p) or [])
    toy = folder / "toy.ttf"
    os.utime(toy, ns=(toy.stat().st_atime_ns, toy.stat().st_mtime_ns + 10**9))
    D._MEMO.clear()
    third = F.discover_fonts([folder])
    assert calls == [str(toy)]
    assert [Path(f.path).name for f in third] == [src.name]


def test_corrupt_cache_file_is_ignored(tmp_path):
    folder = tmp_path / "fonts"
    folder.mkdir()
    _toy_font(folder / "toy.ttf")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / D._CACHE_FILE).write_text("{not json")
    assert len(F.discover_fonts([folder])) == 1


def test_blank_and_notdef_glyphs_are_not_coverage(tmp_path):
    [toy] = F.discover_fonts([_toy_font(tmp_path / "toy.ttf", variable=True)])
    assert toy.codepoints == {0x61, 0x20}  # 'b' has no outline, 'c' maps to .notdef
    assert toy.has("a a") and not toy.has("ab") and not toy.has("c")
    assert toy.family == "Mstr Toy Condensed" and toy.design == "Mstr Toy"
    assert toy.style == "Bold" and toy.index == 0 and toy.variable


def test_collections_give_one_fontinfo_per_face(tmp_path):
    from fontTools.ttLib import TTCollection, TTFont

    faces = [TTFont(str(_toy_font(tmp_path / f"{i}.ttf", family=f"Mstr Toy {i}"))) for i in (1, 2)]
    ttc = TTCollection()
    ttc.fonts = faces
    ttc.save(str(tmp_path / "toys.ttc"))
    found = F.discover_fonts([tmp_path / "toys.ttc"])
    assert [(f.index, f.family) for f in found] == [(0, "Mstr Toy 1"), (1, "Mstr Toy 2")]
    assert all(f.codepoints == {0x61, 0x20} for f in found)


def test_woff_and_woff2_files_are_discovered(tmp_path):
    pytest.importorskip("brotli")
    from fontTools.ttLib import TTFont

    for flavor in ("woff", "woff2"):
        tt = TTFont(str(_toy_font(tmp_path / "toy.ttf", family=f"Mstr Toy {flavor}")))
        tt.flavor = flavor
        tt.save(str(tmp_path / f"toy.{flavor}"))
    (tmp_path / "toy.ttf").unlink()
    found = F.discover_fonts([tmp_path])
    assert [(Path(f.path).suffix, f.family) for f in found] == [(".woff", "Mstr Toy woff"),
                                                                (".woff2", "Mstr Toy woff2")]
    assert all(f.codepoints == {0x61, 0x20} for f in found)  # blank 'b' still found in WOFF2


@pytest.mark.parametrize("family, design", [
    ("Noto Sans Devanagari UI", "Noto Sans Devanagari"),
    ("Noto Sans Devanagari ExtraCondensed", "Noto Sans Devanagari"),
    ("Noto Sans Arabic SemCond", "Noto Sans Arabic"),
    ("Noto Serif Display", "Noto Serif"),
    ("Noto Serif Tamil Slanted", "Noto Serif Tamil"),
    ("Lohit Tamil Classical", "Lohit Tamil"),
    ("Gayathri Thin", "Gayathri"),
    ("padmaa-Bold.1.1", "padmaa"),
    ("Pothana2000", "Pothana"),
    ("PakType Naskh Basic Urdu", "PakType Naskh Basic"),
    ("Noto Nastaliq Urdu", "Noto Nastaliq Urdu"),
    ("Lohit Assamese", "Lohit Bengali"),
    ("Lohit Marathi", "Lohit Devanagari"),
    ("Tiro Devanagari Sanskrit", "Tiro Devanagari"),
    ("Karla Tamil Inclined", "Karla Tamil"),
    ("Karla Tamil Upright", "Karla Tamil"),
    ("Noto Sans", "Noto Sans"),
])
def test_design_names(family, design):
    assert F.design_of(family) == design


# ---------------------------------------------------------------------------------------------
# coverage


def test_lang_coverage(fonts):
    from mstr.charsets import load_charset

    deva = [f for f in fonts if f.family == "Noto Sans Devanagari"]
    if not deva:
        pytest.skip("NotoSansDevanagari-Regular.ttf not installed (fonts-noto-core)")
    hi, ta = load_charset("hi"), load_charset("ta")
    assert F.lang_coverage(deva[0], hi) == 1.0
    assert F.lang_coverage(deva[0], ta) < 0.05
    assert F.lang_coverage(deva[0], "hi") == 1.0
    assert F.missing_chars(deva[0], hi) == []


# ---------------------------------------------------------------------------------------------
# the split


def _sides(lang, fonts):
    train = F.fonts_for_lang(lang, "train", fonts=fonts)
    held = F.fonts_for_lang(lang, "heldout", fonts=fonts)
    return train, held


@pytest.mark.parametrize("lang, names, script", [("en", LATIN, "Latin"), ("hi", DEVA, "Devanagari"),
                                                 ("ta", TAML, "Tamil")])
def test_split_is_disjoint_deterministic_and_non_empty(fonts, system_paths, lang, names, script):
    _need(system_paths, names, script)
    train, held = _sides(lang, fonts)
    assert train and held, "held-out must be non-empty when a script has >= 2 designs"
    train_designs, held_designs = {f.design for f in train}, {f.design for f in held}
    assert not train_designs & held_designs
    assert sorted(train + held, key=lambda f: (f.path, f.index)) == \
        F.fonts_for_lang(lang, "all", fonts=fonts)
    # "X UI" lands with "X"
    for f in train + held:
        if f.family.endswith(" UI"):
            base = f.family[:-3]
            same = [g for g in train + held if g.family == base]
            assert same and all((g in held) == (f in held) for g in same)
    # deterministic, whatever the order of the font list
    assert _sides(lang, list(reversed(fonts))) == (train, held)
    # the documented rule: designs ordered by sha1("<script>:<design>"), first quarter held out
    script_code = {"en": "Latn", "hi": "Deva", "ta": "Taml"}[lang]
    order = sorted(train_designs | held_designs,
                   key=lambda d: hashlib.sha1(f"{script_code}:{d}".encode()).hexdigest())
    k = max(1, round(0.25 * len(order)))
    assert held_designs == set(order[:k])


def test_split_designs_rule():
    designs = {f"Design {i}" for i in range(8)}
    held = F.split_designs("Deva", {"hi": designs, "mr": designs})
    order = sorted(designs, key=lambda d: hashlib.sha1(f"Deva:{d}".encode()).hexdigest())
    assert held == set(order[:2])
    assert F.split_designs("Deva", {"hi": {"Only"}}) == set()
    # a language's only design is never held out; every language with >= 2 designs gets one
    single = {"mr": {order[0]}, "hi": set(order[:3])}
    held = F.split_designs("Deva", single)
    assert order[0] not in held and held & single["hi"] and single["hi"] - held


def test_english_excludes_fonts_of_other_scripts(fonts, system_paths):
    _need(system_paths, LATIN, "Latin")
    en = F.fonts_for_lang("en", "all", fonts=fonts)
    assert {f.design for f in en} <= {"DejaVu Sans", "DejaVu Serif", "Noto Sans", "Noto Serif"}
    indic = [f for f in en if any(w in f.family for w in ("Devanagari", "Tamil", "Lohit"))]
    assert indic == []
    lohit = [f for f in fonts if f.family == "Lohit Devanagari"]
    if lohit:  # it has a-zA-Z, but borrowed: excluded, with a reason
        assert lohit[0].has("azAZ")
        reasons = dict(F.excluded_fonts("en", fonts))
        assert "Devanagari" in reasons[lohit[0]]


def test_missing_script_raises_with_package_hint(fonts, system_paths):
    latin_only = [f for f in fonts if f.family in ("DejaVu Sans", "Noto Sans")]
    if not latin_only:
        pytest.skip("no Latin system font")
    with pytest.raises(UserError) as err:
        F.fonts_for_lang("ta", fonts=latin_only)
    msg = str(err.value)
    assert "Tamil" in msg and "'ta'" in msg and "fonts-lohit-taml" in msg
    with pytest.raises(UserError, match="fonts-noto-core"):
        F.fonts_for_lang("hi", "heldout", fonts=[])
    with pytest.raises(UserError, match="split"):
        F.fonts_for_lang("hi", "test", fonts=latin_only)


def test_single_design_holds_nothing_out_and_warns(fonts, system_paths, caplog):
    _need(system_paths, TAML, "Tamil")
    one = [f for f in fonts if f.design == "Noto Sans Tamil"]
    with caplog.at_level(logging.WARNING, logger="mstr.fonts.split"):
        assert F.fonts_for_lang("ta", "heldout", fonts=one) == []
        assert F.fonts_for_lang("ta", "train", fonts=one) == one
    assert any("held-out" in r.getMessage() for r in caplog.records)


def test_split_and_coverage_tables(fonts, system_paths):
    _need(system_paths, DEVA, "Devanagari")
    rows = {r["lang"]: r for r in font_report.split_table(["hi", "ta", "en"], fonts)}
    hi = rows["hi"]
    assert hi["script"] == "Deva" and hi["designs"] == len(hi["train_designs"]) + len(hi["heldout_designs"])
    assert hi["fonts"] == hi["train_fonts"] + hi["heldout_fonts"]
    table = font_report.coverage_table(["hi", "ta"], fonts)
    assert "Noto Sans Devanagari" in table and "\u25cc" in table and "held out" in table
    assert "DejaVu Serif" not in table.split("\n\n")[0]  # covers neither hi nor ta


@pytest.mark.slow
def test_installed_fonts_give_two_designs_per_indic_script(monkeypatch):
    """On the full system: every language has >= 2 designs and a held-out design.

    Uses the user's font cache (a cold scan of all system fonts takes ~30 s): skipped until
    ``mstr synth fonts`` (or any discover_fonts() call) has built it.
    """
    from mstr.charsets import ALL_LANGS

    if _USER_CACHE_DIR is None:
        monkeypatch.delenv("MSTR_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("MSTR_CACHE_DIR", _USER_CACHE_DIR)
    if not (D._cache_dir() / D._CACHE_FILE).is_file():
        pytest.skip("no font cache yet: run `mstr synth fonts` once, then this test takes ~1 s")
    rows = font_report.split_table(ALL_LANGS)
    if not any(r["fonts"] for r in rows):
        pytest.skip("no system fonts")
    for r in rows:
        assert r["designs"] >= 2 and r["heldout_designs"], r

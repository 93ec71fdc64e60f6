"""The font pool: HarfBuzz shaping check, subset / merge into pool files, pool.json loading and
the fonts_for_lang integration (pool argument, MSTR_FONT_POOL, --font-pool)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("uharfbuzz")
pytest.importorskip("brotli")

from fontTools import subset  # noqa: E402
from fontTools.ttLib import TTFont  # noqa: E402

from mstr.errors import UserError  # noqa: E402
from mstr import fonts as F  # noqa: E402
from mstr.fonts import pool as fontpool  # noqa: E402
from mstr.fonts.discover import read_font_file  # noqa: E402
from mstr.fonts.split import script_split  # noqa: E402
from mstr.synth.poolbuild import case_problem, debian_licence, make_pool_font  # noqa: E402
from mstr.synth.shapecheck import check_font, cluster_samples  # noqa: E402

from conftest import tool_module  # noqa: E402


@pytest.fixture(scope="module")
def small_deva_path(hi_fonts):
    """The smallest Devanagari font file that shapes Hindi (subsetting and merging are quick)."""
    files = sorted({f.path for f in hi_fonts if f.index == 0 and f.path.endswith(".ttf")},
                   key=lambda p: Path(p).stat().st_size)
    return next(p for p in files if check_font(p, "hi") == [])


@pytest.fixture(scope="module")
def latin_font_path():
    fonts = [f for f in F.fonts_for_lang("en", "all") if f.path.endswith(".ttf") and f.index == 0]
    plain = [f for f in fonts if "Regular" in f.path] or fonts
    return plain[0].path


def _strip_layout(src: str, out: Path) -> Path:
    """A copy of ``src`` without OpenType layout tables nor Arabic presentation forms (which
    HarfBuzz would otherwise use to join Arabic letters without GSUB)."""
    tt = TTFont(src)
    for tag in ("GSUB", "GPOS", "GDEF", "morx", "mort"):
        if tag in tt:
            del tt[tag]
    for table in tt["cmap"].tables:
        table.cmap = {cp: g for cp, g in table.cmap.items() if cp < 0xFB50}
    tt.save(str(out))
    return out


def _woff2_subset(src: str, out: Path, unicodes: list[int]) -> Path:
    opts = subset.Options()
    opts.layout_features = ["*"]
    opts.flavor = "woff2"
    font = TTFont(src)
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=unicodes)
    sub.subset(font)
    font.flavor = "woff2"
    font.save(str(out))
    return out


# ---------------------------------------------------------------------------------------------
# shaping check


def test_clusters_cover_letters_marks_and_conjuncts():
    hi = cluster_samples("hi")
    assert "क" in hi.plain and "कि" in hi.plain and "आं" in hi.plain
    assert "आि" not in hi.plain  # a vowel letter takes no vowel sign: that cluster is broken
    (conj,) = hi.formed
    assert "क्त" in conj and "र्क" in conj and all(len(t) == 3 for t in conj)
    (ta,) = cluster_samples("ta").formed
    assert "கு" in ta  # Tamil: consonant + u is a ligature
    assert cluster_samples("en").formed == ()


def test_good_indic_font_passes(deva_font_path):
    assert check_font(deva_font_path, "hi") == []


def test_latin_font_fails_devanagari_with_notdef(latin_font_path):
    problems = check_font(latin_font_path, "hi")
    assert problems and problems[0].startswith("notdef")
    assert check_font(latin_font_path, "en") == []


def test_font_without_shaping_tables_fails(deva_font_path, tmp_path):
    broken = _strip_layout(deva_font_path, tmp_path / "nolayout.ttf")
    problems = check_font(broken, "hi")
    assert any(p.startswith("no conjuncts") for p in problems), problems


def test_arabic_without_joining_fails(tmp_path):
    ur = F.fonts_for_lang("ur", "all")
    path = next(f.path for f in ur if f.path.endswith(".ttf") and f.index == 0)
    assert check_font(path, "ur") == []
    problems = check_font(_strip_layout(path, tmp_path / "flat.ttf"), "ur")
    assert any(p.startswith("no joining") for p in problems), problems


# ---------------------------------------------------------------------------------------------
# pool files


def test_pool_font_is_small_woff2_that_still_shapes(small_deva_path, tmp_path):
    deva_font_path = small_deva_path
    out = tmp_path / "deva.woff2"
    make_pool_font([deva_font_path], "Deva", out)
    assert out.read_bytes()[:4] == b"wOF2"
    assert out.stat().st_size < Path(deva_font_path).stat().st_size
    cmap = TTFont(str(out)).getBestCmap()
    assert 0x0915 in cmap and ord("7") in cmap and 0x00E9 not in cmap  # é: not a Devanagari need
    assert check_font(out, "hi") == []
    from PIL import ImageFont

    font = ImageFont.truetype(str(out), 40, layout_engine=ImageFont.Layout.RAQM)
    assert font.getlength("क्षि") < font.getlength("क") + font.getlength("ष") + font.getlength("ि")


def test_script_and_latin_subsets_are_merged(small_deva_path, tmp_path):
    deva_font_path = small_deva_path
    deva = _woff2_subset(deva_font_path, tmp_path / "d.woff2", list(range(0x0900, 0x0980)) + [0x25CC])
    latin = _woff2_subset(deva_font_path, tmp_path / "l.woff2", list(range(0x20, 0x7F)))
    assert ord("5") not in TTFont(str(deva)).getBestCmap()
    out = tmp_path / "merged.woff2"
    make_pool_font([deva, latin], "Deva", out)
    cmap = TTFont(str(out)).getBestCmap()
    assert ord("5") in cmap and 0x0915 in cmap
    assert check_font(out, "hi") == []


def test_pool_files_do_not_depend_on_the_time_of_the_build(small_deva_path, tmp_path, monkeypatch):
    """A rebuilt pool must have the same bytes (its fingerprints are compared across builds):
    fontTools would write the build's time into each file's head table."""
    from fontTools.ttLib.tables import _h_e_a_d

    latin = _woff2_subset(small_deva_path, tmp_path / "l.woff2", list(range(0x20, 0x7F)))
    built = []
    from fontTools.merge import util as merge_util

    for i, clock in enumerate((3_600_000_000, 3_700_000_000)):  # two builds, a day and more apart
        monkeypatch.setattr(_h_e_a_d, "timestampNow", lambda clock=clock: clock)
        monkeypatch.setattr(merge_util, "timestampNow", lambda clock=clock: clock)
        single, merged = tmp_path / f"single{i}.woff2", tmp_path / f"merged{i}.woff2"
        make_pool_font([small_deva_path], "Deva", single)
        make_pool_font([small_deva_path, latin], "Deva", merged)
        built.append((single.read_bytes(), merged.read_bytes()))
    assert built[0][0] == built[1][0]
    assert built[0][1] == built[1][1]
    assert TTFont(str(tmp_path / "single0.woff2"))["head"].modified == TTFont(small_deva_path)["head"].modified


def test_caps_only_font_is_detected(latin_font_path, tmp_path):
    assert case_problem(latin_font_path) is None
    tt = TTFont(latin_font_path)
    for table in tt["cmap"].tables:
        if table.isUnicode():
            for ch in "abcdefghijklmnopqrstuvwxyz":
                if ord(ch.upper()) in table.cmap:
                    table.cmap[ord(ch)] = table.cmap[ord(ch.upper())]
    tt.save(str(tmp_path / "caps.ttf"))
    assert "capitals" in case_problem(tmp_path / "caps.ttf")


def test_legibility_separates_letters_from_other_glyphs(latin_font_path, tmp_path):
    from mstr.synth.poolbuild import MIN_LEGIBILITY, legibility

    refs = [f.path for f in F.fonts_for_lang("en", "all") if f.index == 0 and f.design == "DejaVu Sans"][:2]
    if not refs:
        pytest.skip("DejaVu Sans not installed (fonts-dejavu-core)")
    assert legibility(latin_font_path, refs) > 0.5
    tt = TTFont(latin_font_path)  # every letter and digit drawn with the glyph of another one
    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    for table in tt["cmap"].tables:
        if table.isUnicode() and all(ord(c) in table.cmap for c in chars):
            old = dict(table.cmap)
            for i, c in enumerate(chars):
                table.cmap[ord(c)] = old[ord(chars[(i + 7) % len(chars)])]
    tt.save(str(tmp_path / "shuffled.ttf"))
    assert legibility(tmp_path / "shuffled.ttf", refs) < MIN_LEGIBILITY


def test_debian_licence():
    dep5 = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: debian/*\nCopyright: 2020 someone\nLicense: GPL-2+\n\n"
            "Files: *\nCopyright: 2011 a foundry\nLicense: OFL-1.1\n text\n")
    assert debian_licence(dep5) == "OFL-1.1"
    assert debian_licence("This Font Software is licensed under the SIL Open Font License") == "OFL-1.1"
    assert debian_licence("all rights reserved") == "see copyright"


# ---------------------------------------------------------------------------------------------
# pool.json and fonts_for_lang (the toy_pool fixture: conftest.py)


def test_fonts_for_lang_reads_the_pool_split(toy_pool, monkeypatch):
    monkeypatch.delenv(fontpool.POOL_ENV, raising=False)
    train = F.fonts_for_lang("hi", "train", pool=toy_pool)
    held = F.fonts_for_lang("hi", "heldout", pool=toy_pool)
    assert [Path(f.path).name for f in train] == ["a.ttf"]
    assert [Path(f.path).name for f in held] == ["b.ttf"]
    assert train[0].has("क") and not train[0].has("\u4e00")
    assert len(F.fonts_for_lang("hi", "all", pool=toy_pool)) == 2
    monkeypatch.setenv(fontpool.POOL_ENV, str(toy_pool))
    assert F.fonts_for_lang("hi") == train
    pool_fonts = fontpool.load_pool()
    assert pool_fonts[0].lacks == {"hi": "₹"} and pool_fonts[0].licence == "OFL-1.1"


def test_an_excluded_design_is_on_neither_side(toy_pool, monkeypatch):
    monkeypatch.delenv(fontpool.POOL_ENV, raising=False)
    data = json.loads((toy_pool / fontpool.POOL_FILE).read_text())
    data["fonts"].append({**data["fonts"][1], "design": "Old Lipi", "split": "excluded", "orthography": "traditional"})
    (toy_pool / fontpool.POOL_FILE).write_text(json.dumps(data))
    fontpool._CACHE.clear()
    assert [Path(f.path).name for f in F.fonts_for_lang("hi", "train", pool=toy_pool)] == ["a.ttf"]
    assert [Path(f.path).name for f in F.fonts_for_lang("hi", "heldout", pool=toy_pool)] == ["b.ttf"]
    assert len(F.fonts_for_lang("hi", "all", pool=toy_pool)) == 3


def test_no_pool_means_system_fonts(monkeypatch, hi_fonts):
    monkeypatch.delenv(fontpool.POOL_ENV, raising=False)
    assert F.fonts_for_lang("hi", "train") == hi_fonts


def test_pool_errors_are_one_line(toy_pool, tmp_path, monkeypatch):
    monkeypatch.delenv(fontpool.POOL_ENV, raising=False)
    with pytest.raises(UserError, match="no font for language 'ta'"):
        F.fonts_for_lang("ta", pool=toy_pool)
    with pytest.raises(UserError, match="no pool.json"):
        F.fonts_for_lang("hi", pool=tmp_path / "nowhere")
    with pytest.raises(UserError, match="unknown font split"):
        F.fonts_for_lang("hi", "test", pool=toy_pool)
    (toy_pool / "b.ttf").unlink()
    fontpool._CACHE.clear()
    with pytest.raises(UserError, match="missing"):
        F.fonts_for_lang("hi", pool=toy_pool)
    (toy_pool / fontpool.POOL_FILE).write_text("{not json")
    with pytest.raises(UserError, match="unreadable"):
        fontpool.load_pool(toy_pool)


def test_cli_prints_the_pool_table(toy_pool, capsys, monkeypatch):
    from mstr.cli.main import main

    monkeypatch.delenv(fontpool.POOL_ENV, raising=False)
    assert main(["synth", "fonts", "--langs", "hi", "--font-pool", str(toy_pool)]) == 0
    out = capsys.readouterr().out
    deva = next(line for line in out.splitlines() if line.startswith("Devanagari"))
    assert deva.split()[1:5] == ["2", "2", "1", "1"]  # families, files, train, held out
    hi = next(line for line in out.splitlines() if line.startswith("hi "))
    assert hi.split()[-1] == "1"  # one font lacks a digit / punctuation mark


def test_a_render_records_its_pool_and_will_not_resume_with_other_fonts(toy_pool, tmp_path, capsys, monkeypatch):
    import json

    from mstr.cli.main import main

    monkeypatch.setenv(fontpool.POOL_ENV, "")  # recorded, so the value the CLI exports is undone
    out = tmp_path / "words"
    argv = ["synth", "words", "--langs", "hi", "--n", "2", "--val-frac", "0", "--out", str(out)]
    assert main([*argv, "--font-pool", str(toy_pool)]) == 0
    assert json.loads((out / "spec.json").read_text())["font_pool"] == str(toy_pool.resolve())
    capsys.readouterr()
    monkeypatch.setenv(fontpool.POOL_ENV, "")  # the CLI exported the pool for its workers; unset it again
    assert main(argv) == 2  # the same command on the system fonts: refused, not mixed into the shards
    err = capsys.readouterr().err
    assert "other settings" in err and "font_pool" in err


def test_a_render_records_the_fonts_it_drew_from(toy_pool, tmp_path, monkeypatch):
    from mstr.cli.main import main
    from mstr.synth.generate import GenSpec, fonts_record

    monkeypatch.setenv(fontpool.POOL_ENV, "")
    out = tmp_path / "words"
    assert main(["synth", "words", "--langs", "hi", "--n", "2", "--val-frac", "0",
                 "--font-pool", str(toy_pool), "--out", str(out)]) == 0
    monkeypatch.setenv(fontpool.POOL_ENV, "")  # the CLI exported the pool for its workers
    done = json.loads((out / "done.json").read_text())
    rec = done["fonts"]["hi"]
    train = [r["design"] for r in json.loads((toy_pool / fontpool.POOL_FILE).read_text())["fonts"]
             if r["split"] == "train"]
    assert rec["files"] == 1 and rec["designs"] == train
    spec = GenSpec.from_json(done["spec"])
    assert fonts_record(spec)["hi"] == rec  # the same fonts: the same record, so two draws can be compared
    held = fonts_record(GenSpec.from_json({**done["spec"], "fonts": "heldout"}))["hi"]
    assert held["designs"] != rec["designs"] and held["fingerprint"] != rec["fingerprint"]
    font = toy_pool / "a.ttf"  # a rebuilt pool: the same file name with other bytes is another draw
    font.write_bytes(font.read_bytes() + b"\0")
    assert fonts_record(spec)["hi"]["fingerprint"] != rec["fingerprint"]


def _tamil_designs():
    """(system Tamil fonts, their held-out designs, their designs, the pool's ``taken`` with 12 new designs)."""
    system = [f for f in F.discover_fonts() if f.has("க")]
    usable, held_sys = script_split("Taml", system)
    sys_designs = sorted({f.design for fs in usable.values() for f in fs})
    taken = {d: {"langs": ["ta"]} for d in sys_designs + [f"New Tamil {i}" for i in range(12)]}
    return system, held_sys, sys_designs, taken


def test_split_keeps_system_sides_and_holds_out_a_quarter_of_new_designs():
    system, held_sys, sys_designs, taken = _tamil_designs()
    with tool_module("build_font_pool") as tool:
        held = tool.split_pool("Taml", taken, system)
    assert held & set(sys_designs) == held_sys
    assert len(held - set(sys_designs)) == 3  # a quarter of 12


def _system_font(name: str) -> str:
    path = next((f.path for f in F.discover_fonts() if Path(f.path).name == name), None)
    if path is None:
        pytest.skip(f"{name} is not installed (make setup)")
    return path


def test_malayalam_orthography_tells_the_ligated_u_sign_from_the_detached_one():
    from mstr.synth.shapecheck import malayalam_orthography

    assert malayalam_orthography(_system_font("Rachana-Regular.ttf")) == "traditional"   # കു one glyph
    assert malayalam_orthography(_system_font("Karumbi-Regular.ttf")) == "traditional"
    assert malayalam_orthography(_system_font("NotoSansMalayalam-Regular.ttf")) == "reformed"
    assert malayalam_orthography(_system_font("Lohit-Malayalam.ttf")) == "reformed"


def test_traditional_malayalam_held_out_designs_are_excluded_from_the_test_only():
    with tool_module("build_font_pool") as tool:
        orth = {"Rachana": "traditional", "Lohit Malayalam": "reformed", "Gayathri": "traditional"}
        assert tool.excluded_designs("Mlym", {"Rachana", "Lohit Malayalam"}, orth) == {"Rachana"}
        assert tool.excluded_designs("Taml", {"Rachana"}, orth) == set()       # other scripts: unchanged
        rec = {"out": _system_font("Rachana-Regular.ttf"), "family": "Rachana", "langs": ["ml"],
               "licence": "OFL-1.1", "source": "test", "bytes": 1}
        out_dir = Path(rec["out"]).parent
        split = {d: tool._record(out_dir, d, rec, {"Rachana", "Lohit"}, "Mlym", {"Rachana"})["split"]
                 for d in ("Rachana", "Lohit", "Gayathri")}
    assert split == {"Rachana": "excluded", "Lohit": "heldout", "Gayathri": "train"}


def test_build_cache_reuses_results_until_a_source_changes(small_deva_path, tmp_path):
    from mstr.synth.poolbuild import BuildResult

    src = tmp_path / "src.ttf"
    shutil.copy(small_deva_path, src)
    built = tmp_path / "built.woff2"
    built.write_bytes(b"wOF2 pretend")
    cand = {"files": [str(src)], "langs": ["hi"]}
    with tool_module("build_font_pool") as tool:
        cache = tool.BuildCache(tmp_path / "cache")
        assert cache.get("X", cand, "Deva", [], tmp_path / "a.woff2") is None
        cache.put("X", cand, "Deva", [], BuildResult("X", str(built), ["hi"], {"hi": []}, size=12))
        hit = cache.get("X", cand, "Deva", [], tmp_path / "a.woff2")
        assert hit.langs == ["hi"] and hit.out == str(tmp_path / "a.woff2")
        assert (tmp_path / "a.woff2").read_bytes() == b"wOF2 pretend"
        assert cache.get("X", {**cand, "langs": ["hi", "mr"]}, "Deva", [], tmp_path / "b.woff2") is None
        os.utime(src, ns=(1, 1))
        assert cache.get("X", cand, "Deva", [], tmp_path / "c.woff2") is None


def _build_or_die(key, sources, index, script, langs, out, references=()):
    """A stand-in for build_and_check whose process dies on the design named 'crashes', as a
    font whose tables crash FreeType or HarfBuzz would (picklable: module level)."""
    from mstr.synth.poolbuild import BuildResult

    if key == "crashes":
        os._exit(11)
    Path(out).write_bytes(b"wOF2 pretend")
    return BuildResult(key, out, list(langs), {lang: [] for lang in langs}, size=12)


def test_a_font_that_kills_its_checking_process_is_rejected_alone(tmp_path):
    from mstr.synth.poolbuild import build_alone

    res = build_alone("crashes", [], 0, "Deva", ["hi"], str(tmp_path / "x.woff2"), worker=_build_or_die)
    assert res.rejected.startswith("WorkerCrash") and res.langs == []
    ok = build_alone("fine", [], 0, "Deva", ["hi"], str(tmp_path / "y.woff2"), worker=_build_or_die)
    assert ok.rejected is None and ok.langs == ["hi"]


def test_the_pool_build_survives_a_crashing_font(tmp_path, monkeypatch):
    import functools

    from mstr.synth.poolbuild import build_alone

    designs = [f"design {i}" for i in range(20)] + ["crashes"]
    cands = {d: {"files": [], "langs": ["hi"], "family": d, "source": "test"} for d in designs}
    with tool_module("build_font_pool") as tool:
        monkeypatch.setattr(tool, "build_and_check", _build_or_die)
        monkeypatch.setattr(tool, "build_alone", functools.partial(build_alone, worker=_build_or_die))
        rejected: dict = {}
        taken = tool.build_script("Deva", cands, tmp_path, budget=10.0, jobs=2, rejected=rejected,
                                  references=[])
    assert set(taken) == set(designs) - {"crashes"}  # the chunk's other designs and later chunks
    assert [r["font"] for r in rejected["Deva"]] == ["crashes"]
    assert rejected["Deva"][0]["reason"].startswith("WorkerCrash")


def test_an_empty_glyph_behind_a_listed_code_point_is_not_claimed_by_the_pool(latin_font_path, tmp_path):
    """Italiana lists '_' but draws nothing: a crop of it came out blank and stopped a render."""
    from mstr.synth.poolbuild import inkless

    assert inkless(latin_font_path, ["_", "a", " ", "5"]) == []
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    tt = TTFont(latin_font_path)
    if "glyf" not in tt:
        pytest.skip("needs a TrueType-outline Latin font")
    pen = TTGlyphPen(None)          # '_' becomes an outline of no height: listed, drawn, no ink
    pen.moveTo((100, 0))
    pen.lineTo((400, 0))
    pen.lineTo((250, 0))
    pen.closePath()
    tt["glyf"][tt.getBestCmap()[ord("_")]] = pen.glyph()
    tt.save(str(tmp_path / "blank_low_line.ttf"))
    font = tmp_path / "blank_low_line.ttf"
    assert inkless(font, ["_", "a", " ", "5"]) == ["_"]
    from mstr.fonts.info import from_ranges
    assert ord("_") in from_ranges(read_font_file(str(font))[0]["cps"])  # the cmap still lists it
    with tool_module("build_font_pool") as tool:
        rec = {"out": str(font), "family": "Blank Low Line", "langs": ["en"], "licence": "OFL-1.1",
               "source": "test", "bytes": 1}
        record = tool._record(tmp_path, "Blank Low Line", rec, set(), "Latn")
    assert "_" in record["lacks"]["en"]
    cps = from_ranges(record["cps"])
    assert ord("_") not in cps and ord("a") in cps and ord("5") in cps


# ---------------------------------------------------------------------------------------------
# fonts lacking a few rare letters


def test_rare_letters_are_those_few_words_use():
    from mstr.synth.poolbuild import rare_letters

    assert "ৎ" in rare_letters("bn") and "ক" not in rare_letters("bn") and "া" not in rare_letters("bn")
    assert "ൿ" in rare_letters("ml") and "ൻ" not in rare_letters("ml")   # chillu n is everywhere
    assert "ऍ" in rare_letters("hi") and "क" not in rare_letters("hi")
    assert rare_letters("en") == frozenset()


def test_a_font_lacking_only_rare_letters_is_taken_and_one_lacking_a_common_letter_is_not(small_deva_path, tmp_path):
    from mstr.synth.poolbuild import build_and_check

    deva = [cp for cp in range(0x0900, 0x0980)] + [0x25CC] + list(range(0x20, 0x7F))
    no_rare = _woff2_subset(small_deva_path, tmp_path / "a.woff2", [cp for cp in deva if cp != 0x090D])  # ऍ
    no_ka = _woff2_subset(small_deva_path, tmp_path / "b.woff2", [cp for cp in deva if cp != 0x0915])    # क
    res = build_and_check("A", [str(no_rare)], 0, "Deva", ["hi"], str(tmp_path / "a-pool.woff2"))
    assert res.rejected is None and res.langs == ["hi"] and res.lacking == {"hi": "ऍ"}
    assert check_font(no_rare, "hi")[0].startswith("notdef")          # the whole charset: fails
    assert check_font(no_rare, "hi", skip="ऍ") == []
    bad = build_and_check("B", [str(no_ka)], 0, "Deva", ["hi"], str(tmp_path / "b-pool.woff2"))
    assert bad.rejected and bad.rejected.startswith("hi: notdef") and bad.lacking == {}
    whole = build_and_check("C", [small_deva_path], 0, "Deva", ["hi"], str(tmp_path / "c-pool.woff2"))
    assert whole.rejected is None and whole.lacking == {}


def test_a_design_lacking_rare_letters_is_trained_on_and_never_held_out(tmp_path):
    system, _, _, taken = _tamil_designs()
    with tool_module("build_font_pool") as tool:
        before = tool.split_pool("Taml", taken, system)
        short = {f"Short Tamil {i}": {"langs": ["ta"], "lacking": {"ta": "ஶ"}} for i in range(8)}
        after = tool.split_pool("Taml", {**taken, **short}, system)
        assert after == before   # the held-out designs (and so the held-out tests) do not move
        uroob = _system_font("Uroob-Regular.ttf")
        rec = {"out": uroob, "family": "Uroob", "langs": ["ml"], "lacking": {"ml": "ൿ"},
               "licence": "OFL-1.1", "source": "test", "bytes": 1}
        out_dir = Path(uroob).parent
        train = tool._record(out_dir, "Uroob", rec, set(), "Mlym")
        held = tool._record(out_dir, "Uroob", rec, {"Uroob"}, "Mlym")
    assert train["split"] == "train" and train["langs"] == ["ml"] and train["lacks"]["ml"].startswith("ൿ")
    from mstr.fonts.info import from_ranges

    assert ord("ൿ") not in from_ranges(train["cps"])   # mapped to a blank glyph: never drawn with it
    assert held["split"] == "heldout" and held["langs"] == []       # not a held-out font of ml


def test_debian_fonts_lacking_letters_are_taken_or_rejected_with_the_reason():
    _system_font("Uroob-Regular.ttf"), _system_font("Suruma.ttf")
    srcs = [(f, "debian:test", "OFL-1.1") for f in F.discover_fonts() if f.has("ക")]
    rejected: dict = {}
    with tool_module("build_font_pool") as tool:
        cands = tool.debian_candidates(srcs, ["Mlym"], rejected)["Mlym"]
    assert "Uroob" in cands and cands["Uroob"]["langs"] == ["ml"]        # lacks only ൿ
    assert "Suruma" not in cands                                          # lacks the chillus
    (why,) = [r["reason"] for r in rejected["Mlym"] if r["font"].startswith("Suruma")]
    assert why.startswith("ml: lacks 5 letters") and "ൻ" in why

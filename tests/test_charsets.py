"""Charsets: the JSON files, their generator and the loader API (mstr.charsets)."""
from __future__ import annotations

import dataclasses
import json
import string
import unicodedata
from pathlib import Path

import pytest

from mstr import charsets
from mstr.charsets import (
    ALL_LANGS, PRESETS, Charset, charset_from_dict, load_charset, parse_langs, read_charset,
    union_chars,
)
from mstr.errors import UserError
from mstr.scripts import COMMON_SCRIPT, script_of
from mstr.text import normalize

from conftest import tool_module

ROOT = Path(__file__).resolve().parents[1]

SCRIPTS = {
    "en": "Latn", "as": "Beng", "bn": "Beng", "gu": "Gujr", "hi": "Deva", "kn": "Knda",
    "ml": "Mlym", "mr": "Deva", "or": "Orya", "pa": "Guru", "ta": "Taml", "te": "Telu",
    "ur": "Arab",
}
FIELDS = ("letters", "diacritics", "digits", "punctuation", "common")


@pytest.fixture(scope="module")
def builder():
    """tools/build_charsets.py, imported as a module."""
    with tool_module("build_charsets") as module:
        yield module


@pytest.fixture(scope="module")
def all_charsets() -> dict[str, Charset]:
    return {lang: load_charset(lang) for lang in ALL_LANGS}


# --- the files on disk ---------------------------------------------------------------------------

def test_files_equal_generator_output(builder):
    langs_dir = charsets._langs_dir()
    expected = builder.generated_files()
    assert sorted(expected) == sorted(f"{lang}.json" for lang in ALL_LANGS)
    on_disk = sorted(p.name for p in langs_dir.glob("*.json"))
    assert on_disk == sorted(expected), "stray or missing charset files"
    for name, text in expected.items():
        assert (langs_dir / name).read_text(encoding="utf-8") == text, (
            f"{name} differs from tools/build_charsets.py; rerun it")


def test_every_lang_loads_with_its_script(all_charsets):
    for lang, cs in all_charsets.items():
        assert cs.lang == lang
        assert cs.script == SCRIPTS[lang]
        assert load_charset(lang) is cs  # cached


def test_entries_are_single_nfkd_stable_code_points(all_charsets):
    for lang, cs in all_charsets.items():
        entries = [c for f in FIELDS for c in getattr(cs, f)] + [cs.virama, cs.nukta]
        for ch in entries:
            if ch is None:
                continue
            assert isinstance(ch, str) and len(ch) == 1, (lang, ch)
            assert unicodedata.normalize("NFKD", ch) == ch, (lang, f"U+{ord(ch):04X}")
            assert normalize(ch) == ch
            assert not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cn"), (lang, ch)
            assert ch != "\u25cc"
        assert "\u200c" not in cs.chars() and "\u200d" not in cs.chars()


def test_script_membership(all_charsets):
    for lang, cs in all_charsets.items():
        for f in ("letters", "diacritics", "digits"):
            for ch in getattr(cs, f):
                assert script_of(ch) == cs.script, (lang, f, f"U+{ord(ch):04X}")
        for ch in cs.punctuation:
            assert script_of(ch) in (cs.script, COMMON_SCRIPT), (lang, ch)
        for ch in cs.common:
            assert script_of(ch) == COMMON_SCRIPT, (lang, ch)
        for mark in (cs.virama, cs.nukta):
            assert mark is None or script_of(mark) == cs.script


def test_no_duplicates_and_code_point_order(all_charsets):
    for lang, cs in all_charsets.items():
        everything = [c for f in FIELDS for c in getattr(cs, f)]
        assert len(everything) == len(set(everything)), lang
        for f in FIELDS:
            values = list(getattr(cs, f))
            assert values == sorted(values, key=ord), (lang, f)
        assert cs.chars() == tuple(everything)


def test_virama_and_nukta(all_charsets):
    with_nukta = {"as", "bn", "gu", "hi", "kn", "mr", "or", "pa"}
    for lang, cs in all_charsets.items():
        if lang in ("en", "ur"):
            assert cs.virama is None and cs.nukta is None
            continue
        assert cs.virama in cs.diacritics, lang
        assert unicodedata.name(cs.virama).endswith("VIRAMA"), lang
        if lang in with_nukta:
            assert cs.nukta in cs.diacritics and unicodedata.name(cs.nukta).endswith("NUKTA")
        else:
            assert cs.nukta is None, lang


def test_native_digits(all_charsets):
    for lang, cs in all_charsets.items():
        assert set(string.digits) <= set(cs.common), lang
        if lang == "en":
            assert cs.digits == ()
            continue
        assert len(cs.digits) == 10, lang
        assert [unicodedata.digit(d) for d in cs.digits] == list(range(10)), lang


# --- curation ----------------------------------------------------------------------------------

def test_english_is_ascii():
    en = load_charset("en")
    assert "".join(en.letters) == string.ascii_uppercase + string.ascii_lowercase
    assert en.diacritics == en.digits == en.punctuation == ()
    assert set(en.common) == set(string.digits + string.punctuation)
    assert en.missing("Café") == ["\u0301"]  # NFKD: e + combining acute


def test_block_characters_decompose_into_the_charset(builder, all_charsets):
    """Every assigned, non-excluded character of the script block the language uses is covered
    (precomposed ones through their NFKD parts)."""
    for lang, cs in all_charsets.items():
        spec = builder.SPEC_BY_LANG[lang]
        excluded = builder.excluded(spec)
        have = set(cs.chars())
        for cp in builder.parse_ranges(spec.block):
            ch = chr(cp)
            if unicodedata.category(ch) == "Cn" or cp in excluded or script_of(ch) != cs.script:
                continue
            lacking = [f"U+{ord(p):04X}" for p in normalize(ch) if p not in have]
            assert not lacking, f"{lang}: U+{cp:04X} {unicodedata.name(ch)} needs {lacking}"
        for cp in excluded:  # an exclusion really excludes
            if unicodedata.category(chr(cp)) != "Cn":
                assert not cs.covers(chr(cp)), f"{lang}: excluded U+{cp:04X} is covered"


# Escaped: an editor or a tool may normalise precomposed literals away.
@pytest.mark.parametrize("lang, precomposed", [
    ("ta", "\u0bca\u0bcb\u0bcc\u0b94"),                         # ொ ோ ௌ ஔ
    ("bn", "\u09cb\u09cc\u09dc\u09dd\u09df"),                   # ো ৌ ড় ঢ় য়
    ("as", "\u09cb\u09cc\u09dc\u09df"),
    ("hi", "\u0958\u0959\u095a\u095b\u095c\u095d\u095e\u0929\u0931"),  # क़ … फ़ ऩ ऱ
    ("mr", "\u0931\u0934"),                                     # ऱ (eyelash RA) ऴ
    ("kn", "\u0cc0\u0cc7\u0cc8\u0cca\u0ccb"),                   # ೀ ೇ ೈ ೊ ೋ
    ("ur", "\u0622\u0623\u0624\u0626\u06c2\u06d3"),             # آ أ ؤ ئ ۂ ۓ
    ("ml", "\u0d4a\u0d4b\u0d4c"),                               # ൊ ോ ൌ
    ("or", "\u0b48\u0b4b\u0b4c\u0b5c\u0b5d"),                   # ୈ ୋ ୌ ଡ଼ ଢ଼
    ("pa", "\u0a33\u0a36\u0a59\u0a5a\u0a5b\u0a5e"),             # ਲ਼ ਸ਼ ਖ਼ ਗ਼ ਜ਼ ਫ਼
    ("te", "\u0c48"),                                           # ై
])
def test_precomposed_forms_are_covered_by_their_parts(lang, precomposed):
    cs = load_charset(lang)
    for ch in precomposed:
        parts = normalize(ch)
        assert parts != ch and len(parts) >= 2  # really precomposed
        assert ch not in cs.chars()
        assert cs.covers(ch), f"{lang}: {ch} → {[f'U+{ord(p):04X}' for p in parts]}"


def test_named_parts():
    assert "\u0bd7" in load_charset("ta").diacritics          # Tamil AU length mark
    assert {"\u0cd5", "\u0cd6"} <= set(load_charset("kn").diacritics)
    ur = load_charset("ur")
    assert {"\u0653", "\u0654"} <= set(ur.diacritics)        # maddah, hamza above
    assert "\u064a" in ur.letters                             # NFKD(ئ) = ي + ٔ


@pytest.mark.parametrize("lang, words", [
    ("en", ["Hello", "STOP", "e-mail", "50%", "[x]"]),
    ("hi", ["क्षत्रिय", "हिन्दी", "ऑफ़िस", "ज़िला", "कृष्ण", "दिल्ली।", "₹५०"]),
    ("mr", ["महाराष्ट्र", "मुंबई", "ळ", "ॲप", "कऱ्हाड"]),
    ("bn", ["কলকাতা", "বাংলা", "বাড়ি", "সৎ", "রোড", "১২৩"]),
    ("as", ["অসম", "ৰাজ্য", "গুৱাহাটী", "অসমীয়া"]),
    ("gu", ["ગુજરાત", "અમદાવાદ", "ઑફિસ", "૧૦"]),
    ("pa", ["ਪੰਜਾਬ", "ਅੰਮ੍ਰਿਤਸਰ", "ਪੱਕਾ", "ਸ਼ਹਿਰ", "ੲਿ"]),
    ("or", ["ଓଡ଼ିଶା", "ଭୁବନେଶ୍ୱର", "କଟକ"]),
    ("ta", ["சென்னை", "தமிழ்நாடு", "கோயம்புத்தூர்", "ஃபேன்", "ஶ்ரீ"]),
    ("te", ["హైదరాబాద్", "తెలుగు", "విజయవాడ"]),
    ("kn", ["ಬೆಂಗಳೂರು", "ಕರ್ನಾಟಕ", "ಮೈಸೂರು", "ಜ಼"]),
    ("ml", ["തിരുവനന്തപുരം", "കേരളം", "കൊച്ചി", "അവൻ", "ൽ"]),
    ("ur", ["پاکستان", "اردو", "ٹیلیفون", "ڈاکٹر", "گاڑی", "آئیے", "فوراً", "اعلیٰ", "کیا؟", "۱۲"]),
])
def test_known_words_are_covered(lang, words):
    cs = load_charset(lang)
    for word in words:
        assert cs.missing(word) == [], (lang, word)


@pytest.mark.parametrize("lang, absent", [
    ("hi", "ऌॡॢॣऄॐ॰ळॲऽ॑"), ("mr", "ऌॡॢॣऄॐ॰"), ("bn", "ৰৱ৳৺ঽৠ"), ("as", "র৳৺"),
    ("ta", "ௐ௹௰ஂ"), ("te", "ఱఴఁౘ"), ("kn", "ಱೞಁ"), ("ml", "ഩഺൎ൹൰"), ("or", "୰୲ଌ"),
    ("pa", "ੴੑੵ"), ("gu", "ૐ૱ઌ"), ("ur", "كهىة٠٣ـ"),
])
def test_archaic_and_symbol_characters_are_excluded(lang, absent):
    cs = load_charset(lang)
    for ch in absent:
        assert not cs.covers(ch), (lang, f"U+{ord(ch):04X}")


def test_language_specific_choices():
    hi, mr, bn, as_ = (load_charset(x) for x in ("hi", "mr", "bn", "as"))
    assert {"ऑ", "ऍ", "\u0945", "\u0949"} <= set(hi.chars())
    assert {"ळ", "ॲ"} <= set(mr.letters)
    assert {"ৰ", "ৱ"} <= set(as_.letters) and "ৎ" in bn.letters
    assert set("\u0d7a\u0d7b\u0d7c\u0d7d\u0d7e\u0d7f") <= set(load_charset("ml").letters)
    ur = load_charset("ur")
    assert set("ٹڈڑںےھہیکگپچژ") <= set(ur.letters)
    assert "۔" in ur.punctuation and set("،؛؟") <= set(ur.common)
    for lang in ("hi", "mr", "bn", "as", "or", "pa"):
        assert {"।", "॥"} <= set(load_charset(lang).common), lang
    for lang in ("en", "gu", "kn", "ml", "ta", "te", "ur"):
        assert "।" not in load_charset(lang).common, lang
    for lang in ALL_LANGS:
        common = set(load_charset(lang).common)
        assert set(".,-'\"():;/&!?%") <= common, lang


# --- the Charset API -----------------------------------------------------------------------------

def test_chars_script_chars_missing_covers():
    hi = load_charset("hi")
    assert hi.chars()[: len(hi.letters)] == hi.letters
    assert hi.script_chars() == hi.letters + hi.diacritics + hi.digits
    assert "।" not in hi.script_chars() and "।" in hi.chars()
    ur = load_charset("ur")
    assert "۔" in ur.script_chars() and "،" not in ur.script_chars()
    assert hi.missing("नमस्ते ABC A\tक़") == ["A", "B", "C"]
    assert hi.missing("ळळ ॐ ळ") == ["ळ", "ॐ"]
    assert hi.covers("नई दिल्ली") and hi.covers("") and not hi.covers("Delhi")


def test_subtype():
    hi = load_charset("hi")
    assert hi.subtype("क") == "letter"
    assert hi.subtype("ा") == hi.subtype("्") == hi.subtype("़") == "diacritic"
    assert hi.subtype("५") == hi.subtype("5") == "digit"
    assert hi.subtype("।") == hi.subtype(".") == hi.subtype("₹") == "punctuation"
    assert load_charset("ur").subtype("۔") == "punctuation"
    assert load_charset("ta").subtype("ஃ") == "letter"
    for bad in ("A", "\u0958", "", "कि"):
        with pytest.raises(UserError, match="not in the 'hi' charset"):
            hi.subtype(bad)


# --- loading errors ------------------------------------------------------------------------------

def test_unknown_language_names_the_available_ones():
    with pytest.raises(UserError) as err:
        load_charset("xx")
    assert "'xx'" in str(err.value) and "hi" in str(err.value) and "ur" in str(err.value)


def test_malformed_file_in_langs_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(charsets, "_langs_dir", lambda: tmp_path)
    (tmp_path / "hi.json").write_text('{"lang": "hi", "script": ', encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_charset("hi")
    assert str(tmp_path / "hi.json") in str(err.value) and "not valid JSON" in str(err.value)
    with pytest.raises(UserError, match="does not exist"):
        load_charset("bn")
    good = json.loads((ROOT / "src" / "mstr" / "configs" / "langs" / "ta.json").read_text("utf-8"))
    (tmp_path / "te.json").write_text(json.dumps(good), encoding="utf-8")
    with pytest.raises(UserError, match=r"te\.json.*'lang' is 'ta', expected 'te'"):
        load_charset("te")


def _valid() -> dict:
    return {"lang": "hi", "script": "Deva", "letters": ["क", "ष", "त", "र"],
            "diacritics": ["ा", "्", "़"], "digits": ["१"], "punctuation": [],
            "common": [".", "।"], "virama": "्", "nukta": "़"}


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("digits"), "missing key"),
    (lambda d: d.update(extra=[]), "unknown key"),
    (lambda d: d.update(script="Hind"), "'script'"),
    (lambda d: d.update(letters="कष"), "must be a list"),
    (lambda d: d["letters"].append("\u0958"), "not in NFKD form"),
    (lambda d: d["letters"].append("क्ष"), "not a single code point"),
    (lambda d: d["letters"].append(7), "not a single code point"),
    (lambda d: d["letters"].append("\u200d"), "may not be in a charset"),
    (lambda d: d["common"].append("\u25cc"), "may not be in a charset"),
    (lambda d: d["letters"].append("A"), "of script Latn"),
    (lambda d: d["common"].append("ख"), "of script Deva"),
    (lambda d: d["diacritics"].append("क"), "already in 'letters'"),
    (lambda d: d.update(virama="ि"), "must also be in 'diacritics'"),
    (lambda d: d.update(nukta="़़"), "not a single code point"),
])
def test_schema_validation(change, message, tmp_path):
    data = _valid()
    charset_from_dict(data, "x.json")  # the baseline is valid
    change(data)
    path = tmp_path / "x.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(UserError, match=message) as err:
        read_charset(path)
    assert str(path) in str(err.value)


def test_read_charset_of_a_tiny_file(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(_valid()), encoding="utf-8")
    cs = read_charset(path)
    assert cs.covers("क्षत्र.") and cs.missing("कि") == ["ि"]
    assert cs.chars() == ("क", "ष", "त", "र", "ा", "्", "़", "१", ".", "।")


# --- parse_langs / union_chars ---------------------------------------------------------------------

def test_parse_langs():
    assert parse_langs("en,hi") == ["en", "hi"]
    assert parse_langs(" EN , hi ,") == ["en", "hi"]
    assert parse_langs("6lang") == list(PRESETS["6lang"])
    assert parse_langs("13lang") == list(ALL_LANGS)
    assert parse_langs(["hi", "3lang", "hi", "ta"]) == ["hi", "en", "bn", "ta"]
    assert parse_langs(("ur",)) == ["ur"]
    assert PRESETS["3lang"] == ("en", "hi", "bn")
    assert PRESETS["6lang"] == ("en", "hi", "bn", "ta", "te", "ml")


@pytest.mark.parametrize("spec", ["en,xx", "hindi", ["en", "7lang"], "", [" "], [1]])
def test_parse_langs_errors_list_languages_and_presets(spec):
    with pytest.raises(UserError) as err:
        parse_langs(spec)
    text = str(err.value)
    assert "ur" in text and "6lang" in text and "13lang" in text


def test_union_chars():
    union = union_chars(["en", "hi", "bn"])
    assert union == union_chars("3lang")
    assert len(union) == len(set(union))
    en, hi, bn = (load_charset(x).chars() for x in ("en", "hi", "bn"))
    assert union[: len(en)] == en
    assert set(union) == set(en) | set(hi) | set(bn)
    assert union.index("क") < union.index("অ")
    assert "ळ" not in union and "ळ" in union_chars(["hi", "mr"])
    assert len(union_chars(["hi", "mr"])) == len(set(hi) | set(load_charset("mr").chars()))


# --- the builder's rules can fail ------------------------------------------------------------------

def _replace(builder, lang, **changes):
    return dataclasses.replace(builder.SPEC_BY_LANG[lang], **changes)


def test_builder_rejects_bad_specs(builder):
    bn = builder.SPEC_BY_LANG["bn"]
    with pytest.raises(builder.BuildError, match=r"U\+09CC.*U\+09D7"):  # ৌ needs the AU length mark
        builder.build_charset(_replace(builder, "bn", diacritics=bn.diacritics.replace(" 09D7", "")))
    hi = builder.SPEC_BY_LANG["hi"]
    without_om = tuple(e for e in hi.exclude if e[0] != "0950")
    with pytest.raises(builder.BuildError, match="not accounted for.*U\\+0950"):
        builder.build_charset(_replace(builder, "hi", exclude=without_om))
    with pytest.raises(builder.BuildError, match="unassigned"):
        builder.build_charset(_replace(builder, "bn", letters=bn.letters + " 098D"))
    with pytest.raises(builder.BuildError, match="script"):
        builder.build_charset(_replace(builder, "hi", common=hi.common + "क"))
    with pytest.raises(builder.BuildError, match="covered by the charset anyway"):
        builder.build_charset(_replace(builder, "hi", exclude=hi.exclude + (("095F", "test"),)))
    with pytest.raises(builder.BuildError, match="both letters and diacritics"):
        builder.build_charset(_replace(builder, "hi", diacritics=hi.diacritics + " 0915"))
    with pytest.raises(builder.BuildError, match="virama"):
        builder.build_charset(_replace(builder, "ta", virama=0x0BBE + 0x100))


def test_builder_check_mode(builder, tmp_path, capsys):
    assert builder.main(["--out", str(tmp_path), "--check"]) == 1
    assert builder.main(["--out", str(tmp_path)]) == 0
    assert builder.main(["--out", str(tmp_path), "--check"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{x}.json" for x in ALL_LANGS)


def test_script_facts_are_consistent():
    from mstr.scripts import INDIC_BLOCK_START, INDIC_SCRIPTS, SCRIPT_RANGES, SUBTYPES, script_of_text

    assert INDIC_SCRIPTS == set(INDIC_BLOCK_START) and INDIC_SCRIPTS < set(SCRIPT_RANGES)
    assert {s: hex(b) for s, b in INDIC_BLOCK_START.items()}["Mlym"] == "0xd00"
    assert all(script_of(chr(b + 0x15)) == s for s, b in INDIC_BLOCK_START.items())  # KA
    assert SUBTYPES[-1] == "special" and len(set(SUBTYPES)) == 5
    assert script_of_text("12 नमस्ते ab") == "Deva" and script_of_text("12, ।") is None

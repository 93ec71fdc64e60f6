"""Shipped word lists and the synthetic-text sampler (mstr.synth.wordlists, vocab, aksharas, signvocab, clusters)."""
from __future__ import annotations

import collections
import hashlib
import json
import re
import unicodedata
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from conftest import tool_module

from mstr.charsets import ALL_LANGS, load_charset
from mstr.errors import UserError
from mstr.scripts import script_of
from mstr.synth.clusters import cluster_index, coverage
from mstr.synth.signvocab import SIGN_KINDS, load_sign_vocab
from mstr.synth.vocab import MODES, V2_MODE_WEIGHTS, TextSampler, indic_parts
from mstr.synth.wordlists import load_vocab, vocab_path
from mstr.text import normalize

#: languages whose sources give more than 5,000 words (all of them: aspell's small or / pa
#: dictionaries are completed from tesseract's word lists); the others would need 1,000
RICH = set(ALL_LANGS)
INDIC = ("as", "bn", "gu", "hi", "kn", "ml", "mr", "or", "pa", "ta", "te")
N_SAMPLES = 3000


@pytest.fixture(scope="module")
def samples() -> dict[str, list[tuple[str, str]]]:
    """(mode, text) pairs per language, drawn once for the module."""
    out = {}
    for lang in ALL_LANGS:
        s = TextSampler(lang)
        rng = np.random.default_rng(1234)
        out[lang] = [s.sample_with_mode(rng) for _ in range(N_SAMPLES)]
    return out


# --------------------------------------------------------------------------- word lists
@pytest.mark.parametrize("lang", ALL_LANGS)
def test_vocab_shipped_normalised_and_big_enough(lang):
    assert vocab_path(lang).is_file()
    text = vocab_path(lang).read_text(encoding="utf-8")
    raw = text.splitlines()
    words = load_vocab(lang)
    assert text.endswith("\n") and text.split() == raw, \
        f"{lang}: blank lines or whitespace inside a line"
    if not unicodedata.is_normalized("NFKD", text):
        not_nfkd = [w for w in raw if normalize(w) != w]
        pytest.fail(f"{lang}: lines not in NFKD form: {not_nfkd[:10]}")
    assert list(words) == raw
    assert len(set(words)) == len(words), f"{lang}: duplicate words"
    minimum = 5000 if lang in RICH else 1000
    assert len(words) >= minimum, f"{lang}: {len(words)} words < {minimum}"
    assert max(map(len, words)) <= 24


@pytest.mark.parametrize("lang", ALL_LANGS)
def test_vocab_covered_by_charset(lang):
    cs = load_charset(lang)
    words = load_vocab(lang)
    chars = frozenset(cs.chars())  # the words are NFKD (checked above): no normalize needed
    bad = [w for w in words if not chars.issuperset(w)]
    share = 1 - len(bad) / len(words)
    missing = collections.Counter(ch for w in bad for ch in cs.missing(w))
    assert share >= 0.995, (
        f"{lang}: only {100 * share:.2f} % of {len(words)} words covered by the charset; "
        f"uncovered e.g. {bad[:15]}; missing characters "
        f"{[(f'U+{ord(c):04X} {c}', n) for c, n in missing.most_common(10)]}")


def test_load_vocab_errors():
    with pytest.raises(UserError):
        load_vocab("xx")
    with pytest.raises(UserError):
        load_vocab("../hi")
    assert load_vocab("hi") is load_vocab("hi")  # cached


# --------------------------------------------------------------------------- sampler
@pytest.mark.parametrize("lang", ["en", "hi", "ta", "ur"])
def test_sampler_deterministic(lang):
    def draw(seed: int, sampler: TextSampler) -> list[str]:
        rng = np.random.default_rng(seed)
        return [sampler.sample(rng) for _ in range(200)]

    first = draw(11, TextSampler(lang))
    assert draw(11, TextSampler(lang)) == first  # a fresh sampler, same seed
    assert draw(12, TextSampler(lang)) != first


@pytest.mark.parametrize("lang", ALL_LANGS)
def test_samples_valid_and_every_mode_occurs(lang, samples):
    cs = load_charset(lang)
    s = TextSampler(lang)
    bad = [t for _, t in samples[lang] if not t or len(t) > 24 or not cs.covers(t)
           or normalize(t) != t]
    assert not bad, f"{lang}: invalid samples {bad[:10]}"
    seen_modes = {m for m, _ in samples[lang]}
    expected = {m for m, w in s.describe()["mode_weights"].items() if w > 0}
    assert seen_modes == expected
    assert ("case" in expected) == (cs.script == "Latn")
    assert set(expected) <= set(MODES)


@pytest.mark.parametrize("lang", ["hi", "ta", "bn", "ur"])
def test_samples_cover_script_chars(lang, samples):
    script_chars = set(load_charset(lang).script_chars())
    seen = {ch for _, t in samples[lang] for ch in t}
    missing = script_chars - seen
    assert len(missing) <= 0.05 * len(script_chars), f"{lang}: never sampled {sorted(missing)}"


def _wellformed_problem(text: str, parts) -> str | None:
    """Why ``text`` is not a sequence of well-formed aksharas (None if it is)."""
    units = set(parts.vowel_units)
    kinds = [parts.classify(ch) for ch in text]
    if unicodedata.category(text[0])[0] == "M":
        return "starts with a combining mark"
    i = 0
    while i < len(text):
        k, prev = kinds[i], (kinds[i - 1] if i else None)
        if k == "vowel_sign":
            j = i
            while j < len(text) and kinds[j] == "vowel_sign":
                j += 1
            if text[i:j] not in units:
                return f"vowel signs {text[i:j]!r} at {i} are not one vowel sign"
            if prev not in ("consonant", "nukta"):
                return f"vowel sign at {i} follows a {prev}"
            i = j
            continue
        if k == "virama":
            if prev not in ("consonant", "nukta"):
                return f"virama at {i} follows a {prev}"
            if i + 1 < len(text) and kinds[i + 1] not in ("consonant", "vowel", "other"):
                return f"virama at {i} is followed by a {kinds[i + 1]}"
        if k == "nukta" and (prev != "consonant" or text[i - 1] not in parts.nukta_consonants):
            return f"nukta at {i} on {text[i - 1]!r}, which does not take one"
        if k == "modifier" and prev not in ("consonant", "nukta", "vowel", "vowel_sign"):
            return f"sign at {i} follows a {prev}"
        i += 1
    return None


@pytest.mark.parametrize("lang", INDIC)
def test_indic_random_strings_wellformed(lang):
    parts = indic_parts(load_charset(lang))
    s = TextSampler(lang, mode_weights={"random": 1.0})
    rng = np.random.default_rng(5)
    texts = [s.sample(rng) for _ in range(400)]
    problems = [(t, p) for t in texts if (p := _wellformed_problem(t, parts))]
    assert not problems, f"{lang}: {problems[:5]}"
    # conjuncts, nukta (where the script has one) and vowel signs all appear
    joined = "".join(texts)
    assert parts.virama in joined
    assert any(u in joined for u in parts.vowel_units)
    if parts.nukta_consonants:
        assert parts.nukta in joined


def test_wellformed_checker_rejects_bad_strings():
    parts = indic_parts(load_charset("hi"))
    assert _wellformed_problem("\u093fक", parts)  # starts with a vowel sign
    assert _wellformed_problem("का\u093f", parts)  # vowel sign after a vowel sign
    assert _wellformed_problem("क्\u093e", parts)  # vowel sign after virama
    assert _wellformed_problem("अ्", parts)  # virama on an independent vowel
    assert _wellformed_problem("प़", parts)  # nukta on a consonant that takes none
    assert _wellformed_problem("क्षत्रिय", parts) is None
    ta = indic_parts(load_charset("ta"))
    assert _wellformed_problem(normalize("கொ"), ta) is None  # ொ = ெ + ா is one vowel sign


def test_english_case_mode():
    s = TextSampler("en", mode_weights={"case": 1.0})
    rng = np.random.default_rng(3)
    texts = [s.sample(rng) for _ in range(300)]
    upper = [t for t in texts if t.isupper()]
    assert len(upper) > 60, texts[:20]
    vocab = set(load_vocab("en"))
    assert all(t.lower() in vocab for t in texts)
    assert any(t[0].isupper() and t[1:].islower() for t in texts if len(t) > 1)


def test_case_folds_into_word_for_uncased_scripts():
    w = TextSampler("hi").describe()["mode_weights"]
    assert w["case"] == 0 and abs(w["word"] - 0.70) < 1e-6
    assert abs(sum(w.values()) - 1) < 1e-9
    assert TextSampler("en").describe()["mode_weights"]["case"] > 0


def test_max_len_and_options():
    for lang in ("en", "hi", "ur", "ml"):
        s = TextSampler(lang, max_len=4)
        rng = np.random.default_rng(0)
        texts = [s.sample(rng) for _ in range(300)]
        assert all(1 <= len(t) <= 4 for t in texts)
        s1 = TextSampler(lang, max_len=1)
        assert all(len(s1.sample(rng)) == 1 for _ in range(50))
    with pytest.raises(UserError):
        TextSampler("hi", mode_weights={"bogus": 1.0})
    with pytest.raises(UserError):
        TextSampler("hi", mode_weights={"word": 0.0})
    with pytest.raises(UserError):
        TextSampler("hi", mode_weights={"word": -1.0, "rare": 1.0})
    with pytest.raises(UserError):
        TextSampler("hi", max_len=0)
    with pytest.raises(UserError):
        TextSampler("xx")


def test_word_mode_prefers_frequent_words():
    s = TextSampler("hi", mode_weights={"word": 1.0})
    rng = np.random.default_rng(0)
    counts = collections.Counter(s.sample(rng) for _ in range(3000))
    vocab = load_vocab("hi")
    top = set(vocab[:100])
    assert sum(n for w, n in counts.items() if w in top) > 0.15 * 3000
    assert len(counts) > 1000  # rare words still appear
    assert s.skipped_oov >= 0


# --------------------------------------------------------------------------- v1 stays v1
V1_RECORD = Path(__file__).parent / "data" / "vocab_v1_samples.json"


def test_v1_profile_unchanged_against_recorded_samples():
    """Samples recorded from the code before the v2 profile existed (tests/data)."""
    rec = json.loads(V1_RECORD.read_text(encoding="utf-8"))
    for key, expected in rec["samples"].items():
        lang, seed = key.split(":")
        for sampler in (TextSampler(lang), TextSampler(lang, profile="v1")):
            rng = np.random.default_rng(int(seed))
            got = [list(sampler.sample_with_mode(rng)) for _ in range(len(expected))]
            assert got == expected, f"{key}: v1 draws changed"
    for lang, digest in rec["sha256_2000"].items():
        rng = np.random.default_rng(99)
        s = TextSampler(lang)
        joined = "\n".join(s.sample(rng) for _ in range(2000))
        assert hashlib.sha256(joined.encode()).hexdigest() == digest, f"{lang}: v1 draws changed"
    for key, expected in rec["variants"].items():
        lang, _, kw = key.partition(":")
        s = TextSampler(lang, **json.loads(kw))
        rng = np.random.default_rng(5)
        assert [s.sample(rng) for _ in range(len(expected))] == expected, key


# --------------------------------------------------------------------------- sign lists
SIGN_LANGS = ("en", "hi", "mr", "bn", "ta", "te", "kn", "ml")


def _pieces(word: str, script: str) -> list[str]:
    """``word`` split at characters of other scripts (punctuation, digits): its script runs."""
    runs, cur = [], ""
    for ch in word:
        if script_of(ch) == script and unicodedata.category(ch)[0] in "LM":
            cur += ch
        elif cur:
            runs.append(cur)
            cur = ""
    return runs + ([cur] if cur else [])


@pytest.mark.parametrize("lang", SIGN_LANGS + ("gu", "or", "as"))
def test_sign_lists_load_valid(lang):
    lists = load_sign_vocab(lang)
    cs = load_charset(lang)
    chars = frozenset(cs.chars())
    required = ["loan", "person", "place", "brand"]
    if lang in SIGN_LANGS:
        required += ["abbrev.title", "abbrev.company", "abbrev.phone"]
        if lang != "en":
            required.append("native")
    for kind in required:
        assert len(lists.get(kind, ())) >= (100 if kind == "loan" else 2), (lang, kind)
    parts = indic_parts(cs) if lang not in ("en",) else None
    for kind, words in lists.items():
        assert kind in SIGN_KINDS
        assert len(set(words)) == len(words), f"{lang}/{kind}: duplicates"
        for w in words:
            assert w and normalize(w) == w, f"{lang}/{kind}: {w!r} not NFKD / has spaces"
            assert len(w) <= 24, f"{lang}/{kind}: {w!r} longer than 24 code points"
            assert chars.issuperset(w), f"{lang}/{kind}: {w!r} has {cs.missing(w)}"
            if parts is not None:
                for piece in _pieces(w, cs.script):
                    # Bengali writes an English initial æ as অ + ya-phala (অ্যান্ড "and")
                    piece = piece.replace("\u0985\u09cd\u09af\u09be", "\u098f")
                    problem = _wellformed_problem(piece, parts)
                    assert problem is None, f"{lang}/{kind}: {w!r}: {problem}"


def test_sign_lists_absent_language_is_empty():
    assert load_sign_vocab("pa") == {}
    with pytest.raises(UserError):
        load_sign_vocab("../hi")


def test_sign_lists_match_their_builder(tmp_path):
    """The shipped lists are what tools/build_sign_vocab.py writes from tools/vocab_sources."""
    with tool_module("build_sign_vocab") as tool:
        tool.main(["--out", str(tmp_path), "hi", "ta", "en"])
    for lang in ("hi", "ta", "en"):
        shipped = resources.files("mstr").joinpath("resources", "vocab", "signs", f"{lang}.tsv")
        assert (tmp_path / f"{lang}.tsv").read_text(encoding="utf-8") == \
            shipped.read_text(encoding="utf-8"), f"{lang}: rerun tools/build_sign_vocab.py"


def test_transliterator_spells_shop_sign_loanwords():
    with tool_module("translit") as tr:
        def spell(key: str, lang: str) -> str:
            return unicodedata.normalize("NFC", tr.transliterate(key, lang))

        expected = {"hi": "मेडिकल", "ta": "மெடிக்கல்", "te": "మెడికల్", "ml": "മെഡിക്കൽ",
                    "kn": "ಮೆಡಿಕಲ್"}
        for lang, word in expected.items():
            assert spell("meDikal", lang) == word
        assert spell("meDikael", "bn") == "মেডিক্যাল"
        assert spell("baeqk", "hi") == "बैंक" and spell("baeqk", "mr") == "बँक"
        assert spell("baeqk", "bn") == "ব্যাংক" and spell("baeqk", "ta") == "பேங்க்"
        assert spell("sTOr", "ml") == "സ്റ്റോർ" and spell("senTar", "bn") == "সেন্টার"
        assert spell("rAy_pur", "hi") == "रायपुर" and spell("rAy_pur", "ta") == "ராய்புர்"
        with pytest.raises(ValueError):
            tr.tokenize("meDi#kal")


# --------------------------------------------------------------------------- v2 profile
@pytest.mark.parametrize("lang", ["en", "hi", "bn", "ta", "te", "kn", "ml", "mr", "pa", "ur"])
def test_v2_profile_valid_deterministic_and_uses_its_modes(lang):
    def draw(seed: int) -> list[tuple[str, str]]:
        s = TextSampler(lang, profile="v2")
        rng = np.random.default_rng(seed)
        return [s.sample_with_mode(rng) for _ in range(1500)]

    first = draw(3)
    assert draw(3) == first
    assert draw(4) != first
    cs = load_charset(lang)
    bad = [t for _, t in first if not t or len(t) > 24 or not cs.covers(t) or normalize(t) != t]
    assert not bad, f"{lang}: invalid v2 samples {bad[:10]}"
    weights = TextSampler(lang, profile="v2").describe()["mode_weights"]
    assert abs(sum(weights.values()) - 1) < 1e-9
    seen = {m for m, _ in first}
    assert seen == {m for m, w in weights.items() if w > 0}
    assert {"phone", "cluster"} <= seen
    if lang in SIGN_LANGS:
        assert {"sign", "loanword", "name", "abbrev"} <= seen
        lists = load_sign_vocab(lang)
        loans = {w.lower() for w in lists["loan"]}
        assert all(t.lower() in loans for m, t in first if m == "loanword")
    else:  # no sign lists: those modes fold into word
        assert weights["sign"] == weights["loanword"] == weights["name"] == 0


def test_v2_phone_numbers_look_like_indian_numbers():
    s = TextSampler("hi", profile="v2", mode_weights={"phone": 1.0})
    rng = np.random.default_rng(0)
    texts = [s.sample(rng) for _ in range(400)]
    to_ascii = {ord(d): str(i) for i, d in enumerate("०१२३४५६७८९")}
    numbers = [re.sub(r"^[^\d+(०-९]*", "", t).translate(to_ascii) for t in texts]
    assert all(re.fullmatch(r"[+\d()/,-]+", n) for n in numbers), numbers[:20]
    assert all(sum(c.isdigit() for c in n) >= 10 for n in numbers)
    assert any(n.startswith("+91") for n in numbers) and any(n.startswith("1800-") for n in numbers)
    assert any(t[0] in "०१२३४५६७८९" for t in texts)  # native digits too
    assert not any(ch.isspace() for t in texts for ch in t)


def test_v2_abbreviations_fuse_as_signs_print_them():
    s = TextSampler("en", profile="v2", mode_weights={"abbrev": 1.0})
    rng = np.random.default_rng(1)
    texts = [s.sample(rng) for _ in range(600)]
    assert any(re.fullmatch(r"(?i)dr\.[A-Za-z]+", t) for t in texts)
    assert any(re.fullmatch(r"(?i)no[.:]\d+([/-]\d+|[ABC])?", t) for t in texts)
    assert "&" in texts and any("Pvt" in t or "PVT" in t for t in texts)


def test_profile_errors():
    with pytest.raises(UserError):
        TextSampler("hi", profile="v3")
    with pytest.raises(UserError):
        TextSampler("hi", profile="v2", mode_weights={"bogus": 1.0})
    assert TextSampler("hi", profile="v2").describe()["profile"] == "v2"


@pytest.mark.parametrize("lang", ["hi", "ml"])
def test_cluster_balancing_raises_minimum_coverage(lang):
    """The cluster mode draws rare characters and conjuncts more often than word draws do."""
    n = 4000
    with_cluster = TextSampler(lang, profile="v2")
    weights = dict(V2_MODE_WEIGHTS)
    weights["word"] += weights.pop("cluster")
    without = TextSampler(lang, mode_weights=weights)
    script = set(load_charset(lang).script_chars()) - set(load_charset(lang).digits)
    a, b = coverage(with_cluster, n, seed=7), coverage(without, n, seed=7)
    min_a = min(k for c, k in a["items"].items() if c in script)
    min_b = min(k for c, k in b["items"].items() if c in script)
    assert min_a > 1.3 * min_b, (min_a, min_b)
    assert a["conjuncts_seen"] > b["conjuncts_seen"]
    idx = cluster_index(with_cluster)
    assert idx.conjuncts and not set(idx.chars) & set(load_charset(lang).digits)

"""Shipped word lists and the synthetic-text sampler (mstr.synth.vocab)."""
from __future__ import annotations

import collections
import unicodedata

import numpy as np
import pytest

from mstr.charsets import ALL_LANGS, load_charset
from mstr.errors import UserError
from mstr.synth.vocab import MODES, TextSampler, indic_parts, load_vocab, vocab_path
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

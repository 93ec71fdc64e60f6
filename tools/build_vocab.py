#!/usr/bin/env python
"""Regenerate the shipped word lists ``src/mstr/resources/vocab/<lang>.txt``.

Usage (from the repository root)::

    .venv/bin/python tools/build_vocab.py            # all 13 languages
    .venv/bin/python tools/build_vocab.py hi ta      # some of them
    .venv/bin/python tools/build_vocab.py --out /tmp/vocab

Sources (see ``src/mstr/resources/vocab/README.md`` for the licences):

* ``wordfreq`` (Python package, data CC BY-SA 4.0): frequency-ranked lists for en, bn, hi, ta, ur.
* Debian ``aspell-XX`` dictionaries (``aspell -d XX dump master | aspell -l XX expand``):
  bn gu hi kn ml mr or pa ta te.
* Debian ``tesseract-ocr-XXX`` traineddata (tessdata_fast, Apache-2.0): the LSTM word DAWG,
  unpacked with ``combine_tessdata -u`` and listed with ``dawg2wordlist``: as (its only source),
  and or / pa, whose aspell dictionaries are small (about 1,000 and 2,000 words).

Per language, frequency-ranked words come first (in rank order), then the dictionary words.
When the dictionary words do not all fit under the cap, a deterministic, alphabet-independent
subset is chosen (the words with the smallest SHA-1 of their UTF-8 bytes), so the subset is not
just the words that begin with the first letters; the chosen dictionary words are then written in
sorted (code point) order.

Every token is normalised with :func:`mstr.text.normalize` (NFKD, no whitespace) and kept only if
it has at least one character of the language's script, no character of another script (nor an
unassigned / emoji / symbol character, ``Zzzz``), no format character (category ``Cf``: ZWJ, ZWNJ,
…) and 1–24 code points. English tokens with non-ASCII letters are dropped too. Tokens are *not*
filtered by membership in the charset: ``tests/test_vocab.py`` checks how much of the vocabulary the
charset covers, and that check must stay meaningful. Further rules (stray punctuation, broken
aksharas, neighbouring-language spellings, Malayalam legacy chillus) are listed in
:func:`reject_reason` and :func:`source_fix`. The drop counts per reason are printed (for a
frequency list, over the part read before its quota was filled).

The output depends only on the installed versions of wordfreq, aspell-XX and tesseract-ocr-XXX
(printed at the start), never on time or randomness.
"""
from __future__ import annotations

import argparse
import collections
import functools
import hashlib
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mstr.scripts import script_of  # noqa: E402
from mstr.text import normalize  # noqa: E402

LANGS = ("en", "as", "bn", "gu", "hi", "kn", "ml", "mr", "or", "pa", "ta", "te", "ur")

SCRIPT = {
    "en": "Latn", "as": "Beng", "bn": "Beng", "gu": "Gujr", "hi": "Deva", "kn": "Knda",
    "ml": "Mlym", "mr": "Deva", "or": "Orya", "pa": "Guru", "ta": "Taml", "te": "Telu",
    "ur": "Arab",
}

#: Ordered sources per language: ("wordfreq", code) is frequency-ranked; ("aspell", code) and
#: ("tesseract", code) are unranked dictionaries.
SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("wordfreq", "en"),),
    "as": (("tesseract", "asm"),),
    "bn": (("wordfreq", "bn"), ("aspell", "bn")),
    "gu": (("aspell", "gu"),),
    "hi": (("wordfreq", "hi"), ("aspell", "hi")),
    "kn": (("aspell", "kn"),),
    "ml": (("aspell", "ml"),),
    "mr": (("aspell", "mr"),),
    "or": (("aspell", "or"), ("tesseract", "ori")),
    "pa": (("aspell", "pa"), ("tesseract", "pan")),
    "ta": (("wordfreq", "ta"), ("aspell", "ta")),
    "te": (("aspell", "te"),),
    "ur": (("wordfreq", "ur"),),
}

CAP = 20_000
CAP_EN = 10_000
#: Where a language has both a frequency list and a dictionary, the frequency list fills at most
#: this share of the cap, so the dictionary still adds rarer (but correctly spelled) words.
FREQ_SHARE = 0.75
MAX_CODEPOINTS = 24
WORDFREQ_N = 300_000

DEFAULT_OUT = ROOT / "src" / "mstr" / "resources" / "vocab"


# --------------------------------------------------------------------------- sources
def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): "
                           f"{proc.stderr.decode('utf-8', 'replace')[:500]}")
    return proc.stdout


def words_wordfreq(code: str) -> list[str]:
    import wordfreq

    return list(wordfreq.top_n_list(code, WORDFREQ_N))


def words_aspell(code: str) -> list[str]:
    if shutil.which("aspell") is None:
        raise RuntimeError("aspell is not installed (apt-get install aspell aspell-XX)")
    dump = _run(["aspell", "-d", code, "--encoding=utf-8", "dump", "master"])
    expanded = _run(["aspell", "-l", code, "--encoding=utf-8", "expand"], stdin=dump)
    return sorted(set(expanded.decode("utf-8").split()))


def words_tesseract(code: str) -> list[str]:
    for tool in ("combine_tessdata", "dawg2wordlist"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (apt-get install tesseract-ocr)")
    found = sorted(Path("/usr/share/tesseract-ocr").glob(f"*/tessdata/{code}.traineddata"))
    if not found:
        raise RuntimeError(f"{code}.traineddata not found (apt-get install tesseract-ocr-{code})")
    with tempfile.TemporaryDirectory() as tmp:
        td = Path(tmp) / f"{code}.traineddata"
        shutil.copyfile(found[-1], td)
        _run(["combine_tessdata", "-u", str(td), str(Path(tmp) / f"{code}.")])
        uni, dawg = Path(tmp) / f"{code}.lstm-unicharset", Path(tmp) / f"{code}.lstm-word-dawg"
        if not dawg.exists():  # legacy (non-LSTM) model
            uni, dawg = Path(tmp) / f"{code}.unicharset", Path(tmp) / f"{code}.word-dawg"
        out = Path(tmp) / "words.txt"
        _run(["dawg2wordlist", str(uni), str(dawg), str(out)])
        return sorted(set(out.read_text(encoding="utf-8").split()))


FETCH = {"wordfreq": words_wordfreq, "aspell": words_aspell, "tesseract": words_tesseract}


def source_versions() -> dict[str, str]:
    """Installed versions of every source, for the log and the README."""
    out: dict[str, str] = {}
    try:
        import importlib.metadata as md

        out["wordfreq"] = md.version("wordfreq")
    except Exception:  # pragma: no cover - informational only
        out["wordfreq"] = "not installed"
    if shutil.which("dpkg-query"):
        pkgs = sorted({f"aspell-{c}" for srcs in SOURCES.values() for k, c in srcs if k == "aspell"}
                      | {f"tesseract-ocr-{c}" for srcs in SOURCES.values()
                         for k, c in srcs if k == "tesseract"} | {"aspell", "tesseract-ocr"})
        proc = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *pkgs],
                              capture_output=True, text=True, check=False)
        for line in proc.stdout.splitlines():
            name, _, ver = line.partition(" ")
            out[name] = ver
    return out


# --------------------------------------------------------------------------- filtering
#: Common-script characters a word may hold *inside* it (ASCII digits may stand anywhere).
INNER_COMMON = frozenset("-'.")

#: Orthography rules: letters another language writes in the same script, which this language
#: writes differently. Tokens holding them are spellings of that other language (the sources
#: mix some in), dropped with the reason given. These are fixed linguistic facts, not a lookup
#: in the charset.
FOREIGN_LETTERS: dict[str, dict[str, str]] = {
    # Assamese writes ra as ৰ (U+09F0), never Bengali র (U+09B0).
    "as": {"\u09b0": "bengali_ra"},
    # Urdu writes ک ی ہ/ھ ۃ where Arabic writes ك ى ه ة (religious phrases such as الله, عليه,
    # صلى are quoted in Arabic spelling in Urdu text).
    "ur": {"\u0643": "arabic_spelling", "\u0649": "arabic_spelling",
           "\u0647": "arabic_spelling", "\u0629": "arabic_spelling"},
}


_BLOCKS = {"Deva": 0x0900, "Beng": 0x0980, "Guru": 0x0A00, "Gujr": 0x0A80, "Orya": 0x0B00,
           "Taml": 0x0B80, "Telu": 0x0C00, "Knda": 0x0C80, "Mlym": 0x0D00}


def _nukta_bases(script: str) -> tuple[str, frozenset[str]] | None:
    """(nukta, consonants Unicode composes with it) for the scripts where Unicode has nukta
    letters (Devanagari, Bengali, Gurmukhi, Oriya); None elsewhere (no rule applied)."""
    start = _BLOCKS.get(script)
    if start is None:
        return None
    nukta = chr(start + 0x3C)
    bases = frozenset(d[0] for d in (unicodedata.normalize("NFD", chr(cp))
                                      for cp in range(start, start + 0x80))
                      if len(d) == 2 and d[1] == nukta)
    return (nukta, bases) if bases else None


NUKTA_RULE = {script: _nukta_bases(script) for script in set(SCRIPT.values())}


_VOWEL_LETTERS = frozenset({
    "A", "AA", "I", "II", "U", "UU", "E", "EE", "AI", "O", "OO", "AU", "VOCALIC R", "VOCALIC RR",
    "VOCALIC L", "VOCALIC LL", "SHORT A", "SHORT E", "SHORT O", "CANDRA A", "CANDRA E", "CANDRA O",
    "OE", "OOE", "AW", "UE", "UUE",
})


@functools.lru_cache(maxsize=None)
def _indic_kind(ch: str) -> str:
    """Role of a Brahmic character in an akshara, from its Unicode name and category."""
    cat, name = unicodedata.category(ch), unicodedata.name(ch, "")
    if cat[0] == "M":
        if "VOWEL SIGN" in name or "LENGTH MARK" in name:
            return "vowel_sign"
        if "VIRAMA" in name:
            return "virama"
        if "NUKTA" in name:
            return "nukta"
        return "sign"  # anusvara, candrabindu, visarga, tippi, addak, …
    if cat[0] == "L":
        if " VOWEL " in name:
            return "vowel"
        _, sep, tail = name.partition(" LETTER ")
        if not sep or tail.startswith("CHILLU") or tail == "KHANDA TA":
            return "other"  # avagraha, chillus, khanda ta, Gurmukhi iri / ura (ੲ ੳ), …
        return "vowel" if tail in _VOWEL_LETTERS else "consonant"
    return "other"


@functools.lru_cache(maxsize=None)
def _vowel_units(script: str) -> frozenset[str]:
    """NFKD forms of the script's vowel signs (Tamil ொ → ெ + ா is one unit)."""
    start = _BLOCKS[script]
    units = {unicodedata.normalize("NFKD", chr(cp)) for cp in range(start, start + 0x80)
             if "VOWEL SIGN" in unicodedata.name(chr(cp), "")}
    units |= {p for u in units for p in u}  # a single piece (ml ൗ is written alone)
    return frozenset(units)


def malformed(token: str, script: str) -> bool:
    """True for Brahmic spellings no shaping engine renders without a dotted circle: a vowel
    sign after anything but a consonant (+ nukta), two vowel signs that are not one decomposed
    sign, a sign (anusvara, visarga…) or virama after a sign or a virama."""
    if script not in _BLOCKS:
        return False
    units = _vowel_units(script)
    prev = None
    i = 0
    while i < len(token):
        kind = _indic_kind(token[i])
        if kind == "vowel_sign":
            j = i
            while j < len(token) and _indic_kind(token[j]) == "vowel_sign":
                j += 1
            if prev not in ("consonant", "nukta") or token[i:j] not in units:
                return True
            prev, i = "vowel_sign", j
            continue
        if kind in ("sign", "virama") and prev in ("sign", "virama", None):
            return True
        prev = kind
        i += 1
    return False


def reject_reason(token: str, lang: str) -> str | None:
    """Why ``token`` (already normalised) is dropped for ``lang``, or None to keep it.

    Reasons: ``empty``, ``too_long`` (> 24 code points), ``format_char`` (category Cf),
    ``unknown_char`` (a character of no supported script: emoji, symbols…), ``other_script``,
    ``non_ascii_latin`` (en only), ``symbol`` (a Common character other than ASCII digits and
    an inner ``- ' .``), ``edge_punct`` (punctuation at either end: the sampler adds punctuation
    itself), ``leading_mark`` (starts with a combining mark: a broken entry),
    ``misplaced_nukta`` (a nukta after a character Unicode never composes it with, e.g. the
    ``ন়্`` of some aspell-bn entries; only for Devanagari, Bengali, Gurmukhi, Oriya),
    ``malformed`` (see :func:`malformed`: a vowel sign on an independent vowel, ``मंे`` …) and
    ``no_script_char`` (no letter or mark of the language's script), and the orthography
    reasons of :data:`FOREIGN_LETTERS`. Characters of the language's script that are neither
    letters, marks nor decimal digits (e.g. Bengali ৷ U+09F7, used as a danda, Urdu ۔) count as
    punctuation: ``edge_punct`` at either end, ``symbol`` inside.
    """
    if not token:
        return "empty"
    if len(token) > MAX_CODEPOINTS:
        return "too_long"
    script = SCRIPT[lang]
    foreign = FOREIGN_LETTERS.get(lang, {})
    has_script = False
    for i, ch in enumerate(token):
        cat = unicodedata.category(ch)
        if cat == "Cf":
            return "format_char"
        s = script_of(ch)
        if s == script:
            if cat[0] in "LM":
                has_script = True
            elif cat != "Nd":
                return "edge_punct" if i == 0 or i == len(token) - 1 else "symbol"
            if lang == "en" and ord(ch) > 0x7F:
                return "non_ascii_latin"
            if ch in foreign:
                return foreign[ch]
        elif s == "Zzzz":
            return "unknown_char"
        elif s != "Zyyy":
            return "other_script"
        elif not ("0" <= ch <= "9"):
            if ch not in INNER_COMMON:
                return "symbol"
            if i == 0 or i == len(token) - 1:
                return "edge_punct"
    if unicodedata.category(token[0])[0] == "M":
        return "leading_mark"
    rule = NUKTA_RULE.get(script)
    if rule is not None:
        nukta, bases = rule
        if any(ch == nukta and token[i - 1] not in bases for i, ch in enumerate(token) if i):
            return "misplaced_nukta"
    if malformed(token, script):
        return "malformed"
    if not has_script:
        return "no_script_char"
    return None


#: Malayalam sources written before Unicode 5.1 spell a chillu as consonant + virama + ZWJ;
#: Unicode 5.1 encodes the chillus atomically (U+0D7A..U+0D7F), which is what the charset and
#: modern text use. NTA is written NA + virama + RRA. Other ZWJ / ZWNJ uses are left alone (and
#: the token is then dropped as ``format_char``).
_ML_FIXES = (
    ("\u0d28\u0d4d\u200d\u0d31", "\u0d28\u0d4d\u0d31"),  # ന്‍റ → ന്റ
    ("\u0d23\u0d4d\u200d", "\u0d7a"),  # ണ്‍ → ൺ
    ("\u0d28\u0d4d\u200d", "\u0d7b"),  # ന്‍ → ൻ
    ("\u0d30\u0d4d\u200d", "\u0d7c"),  # ര്‍ → ർ
    ("\u0d32\u0d4d\u200d", "\u0d7d"),  # ല്‍ → ൽ
    ("\u0d33\u0d4d\u200d", "\u0d7e"),  # ള്‍ → ൾ
    ("\u0d15\u0d4d\u200d", "\u0d7f"),  # ക്‍ → ൿ
)


def source_fix(token: str, lang: str) -> str:
    """Re-encode legacy spellings of a source token (only Malayalam chillus so far)."""
    if lang == "ml" and "\u200d" in token:
        for old, new in _ML_FIXES:
            token = token.replace(old, new)
    return token


def _hash_key(word: str) -> bytes:
    return hashlib.sha1(word.encode("utf-8")).digest()


def build(lang: str, log=print) -> tuple[list[str], dict]:
    """The word list of ``lang`` and a summary (counts per source and drop reasons)."""
    cap = CAP_EN if lang == "en" else CAP
    srcs = SOURCES[lang]
    has_ranked = any(k == "wordfreq" for k, _ in srcs)
    has_dict = any(k != "wordfreq" for k, _ in srcs)
    freq_quota = int(cap * FREQ_SHARE) if (has_ranked and has_dict) else cap

    seen: set[str] = set()
    ranked: list[str] = []
    dictionaries: list[list[str]] = []  # one list per dictionary source, in priority order
    summary: dict = {"sources": {}, "drops": collections.Counter()}
    for kind, code in srcs:
        raw = FETCH[kind](code)
        drops: collections.Counter = collections.Counter()
        kept: list[str] = []
        n_fixed = 0
        for tok in raw:
            fixed = source_fix(tok, lang)
            n_fixed += fixed != tok
            word = normalize(fixed)
            reason = reject_reason(word, lang)
            if reason is None and word in seen:
                reason = "duplicate"
            if reason is not None:
                drops[reason] += 1
                continue
            if kind == "wordfreq" and len(kept) >= freq_quota:
                break  # ranked list: the rest is never used
            kept.append(word)
            seen.add(word)
        if kind == "wordfreq":
            ranked.extend(kept)
        else:
            dictionaries.append(kept)
        summary["sources"][f"{kind}:{code}"] = {"raw": len(raw), "kept": len(kept),
                                                "re-encoded": n_fixed, "drops": dict(drops)}
        summary["drops"].update(drops)
        log(f"  [{lang}] {kind}:{code}: {len(raw)} raw tokens, {len(kept)} kept"
            + (f" ({n_fixed} re-encoded)" if n_fixed else "") + "; dropped: "
            + (", ".join(f"{r}={n}" for r, n in sorted(drops.items())) or "none"))

    # Dictionaries fill the room left under the cap in source order; the one that does not fit
    # contributes the subset with the smallest hashes (spread over the whole alphabet).
    dict_words: list[str] = []
    for kept in dictionaries:
        room = cap - len(ranked) - len(dict_words)
        if len(kept) > room:
            kept = sorted(kept, key=_hash_key)[:max(0, room)]
        dict_words.extend(kept)
    words = ranked + sorted(dict_words)
    summary["ranked"] = len(ranked)
    summary["dictionary"] = len(dict_words)
    summary["total"] = len(words)
    return words, summary


def charset_coverage(lang: str, words: list[str]) -> tuple[float, list[str]] | None:
    """Share of ``words`` the charset covers and some uncovered examples (None without charsets)."""
    try:
        from mstr.charsets import load_charset
    except ImportError:
        return None
    cs = load_charset(lang)
    bad = [w for w in words if not cs.covers(w)]
    return 1.0 - len(bad) / max(1, len(words)), bad[:10]


def parse_lang_args(argv: list[str] | None, doc: str, langs: tuple[str, ...],
                    default_out: Path) -> argparse.Namespace:
    """``langs`` (default: all of ``langs``) and ``--out`` of a list-building tool."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("langs", nargs="*", default=list(langs), help="languages (default: all)")
    ap.add_argument("--out", type=Path, default=default_out, help="output folder")
    args = ap.parse_args(argv)
    unknown = [lang for lang in args.langs if lang not in langs]
    if unknown:
        ap.error(f"unknown language(s) {unknown}; choose from {' '.join(langs)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_lang_args(argv, __doc__, LANGS, DEFAULT_OUT)

    print("source versions:", ", ".join(f"{k} {v}" for k, v in source_versions().items()))
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for lang in args.langs:
        words, summary = build(lang)
        path = args.out / f"{lang}.txt"
        path.write_text("".join(w + "\n" for w in words), encoding="utf-8", newline="\n")
        cov = charset_coverage(lang, words)
        cov_txt = "n/a" if cov is None else f"{100 * cov[0]:.2f} %"
        print(f"  [{lang}] wrote {path} : {summary['total']} words "
              f"({summary['ranked']} frequency-ranked + {summary['dictionary']} dictionary); "
              f"charset coverage {cov_txt}"
              + ("" if not cov or not cov[1] else f"; uncovered e.g. {cov[1][:5]}"))
        rows.append((lang, summary, cov_txt))

    print("\n| lang | sources | ranked | dictionary | words | charset coverage |")
    print("|---|---|---:|---:|---:|---:|")
    for lang, s, cov_txt in rows:
        print(f"| {lang} | {', '.join(s['sources'])} | {s['ranked']} | {s['dictionary']} "
              f"| {s['total']} | {cov_txt} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

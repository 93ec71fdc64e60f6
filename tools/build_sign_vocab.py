#!/usr/bin/env python
"""Regenerate the signboard word lists ``src/mstr/resources/vocab/signs/<lang>.tsv``.

Usage (from the repository root)::

    .venv/bin/python tools/build_sign_vocab.py            # en hi mr bn ta te kn ml gu or as
    .venv/bin/python tools/build_sign_vocab.py hi ta      # some of them
    .venv/bin/python tools/build_sign_vocab.py --out /tmp/signs

Sources: the hand-written tables in ``tools/vocab_sources/`` (written for mSTR, Apache-2.0):

* ``loanwords.tsv`` — English words of shop signs with a phonetic key, spelled in each Indian
  script by :mod:`translit` (English signs keep the English spelling);
* ``names.tsv`` — person, place and shop names (Latin spelling and phonetic key);
* ``native_signs.tsv`` — native sign words per language (दुकान, கடை, …), as written;
* ``abbrev.tsv`` — abbreviations and joiners per language (``Dr.``, ``Pvt.Ltd.``, ``डॉ.``, ``&``).

Output, one file per language, UTF-8, one ``kind<TAB>word`` line per entry, entries of a kind
in source order: kinds ``loan``, ``native``, ``person``, ``place``, ``brand`` and
``abbrev.<role>`` (role: title, number, phone, company, join, place). Every word is normalised
(NFKD, no whitespace), at most 24 code points, covered by the language's charset and, for
Brahmic scripts, a sequence of well-formed aksharas (no vowel sign after a vowel, no stray
nukta); a word that fails is dropped and counted per reason (printed). Deterministic.
"""
from __future__ import annotations

import collections
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

from build_vocab import NUKTA_RULE, SCRIPT, malformed, parse_lang_args  # noqa: E402
from translit import LANG_SCRIPT, transliterate  # noqa: E402

from mstr.charsets import load_charset  # noqa: E402
from mstr.text import normalize  # noqa: E402

SRC = ROOT / "tools" / "vocab_sources"
DEFAULT_OUT = ROOT / "src" / "mstr" / "resources" / "vocab" / "signs"
LANGS = ("en", "hi", "mr", "bn", "ta", "te", "kn", "ml", "gu", "or", "as")
MAX_CODEPOINTS = 24
NAME_KINDS = ("person", "place", "brand")


def read_table(name: str) -> list[list[str]]:
    """Rows of a tab-separated source table, without comments and blank lines."""
    rows = []
    for n, line in enumerate((SRC / name).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 2:
            raise SystemExit(f"{name}:{n}: expected tab-separated columns, got {line!r}")
        rows.append(cols)
    return rows


def _overrides(cols: list[str]) -> dict[str, str]:
    out = {}
    for item in " ".join(cols).split():
        lang, _, key = item.partition(":")
        out[lang] = key
    return out


def entries(lang: str) -> list[tuple[str, str]]:
    """(kind, raw word) pairs of ``lang`` from the source tables, before validation."""
    out: list[tuple[str, str]] = []
    for cols in read_table("loanwords.tsv"):
        english, key, over = cols[0], cols[1], _overrides(cols[2:])
        out.append(("loan", english if lang == "en" else
                    transliterate(over.get(lang, key), lang, loan=True)))
    if lang != "en":
        out += [("native", word) for lg, word in read_table("native_signs.tsv") if lg == lang]
    for cols in read_table("names.tsv"):
        kind, latin, key, over = cols[0], cols[1], cols[2], _overrides(cols[3:])
        if kind not in NAME_KINDS:
            raise SystemExit(f"names.tsv: unknown kind {kind!r} (expected {NAME_KINDS})")
        out.append((kind, latin if lang == "en" else
                    transliterate(over.get(lang, key), lang, loan=False)))
    out += [(f"abbrev.{role}", tok) for lg, role, tok in read_table("abbrev.tsv") if lg == lang]
    return out


def reject_reason(word: str, lang: str, covered: frozenset[str]) -> str | None:
    """Why a (normalised) sign word is dropped for ``lang``, or None to keep it."""
    if not word:
        return "empty"
    if len(word) > MAX_CODEPOINTS:
        return "too_long"
    if not covered.issuperset(word):
        return "not_in_charset"
    script = SCRIPT[lang]
    rule = NUKTA_RULE.get(script)
    if rule is not None:
        nukta, bases = rule
        if any(ch == nukta and (i == 0 or word[i - 1] not in bases) for i, ch in enumerate(word)):
            return "misplaced_nukta"
    if malformed(word, script):
        return "malformed"
    return None


def build(lang: str) -> tuple[list[tuple[str, str]], collections.Counter, list[str]]:
    """Validated (kind, word) entries of ``lang``, drop counts and examples of drops."""
    covered = frozenset(load_charset(lang).chars())
    kept: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    drops: collections.Counter = collections.Counter()
    examples: list[str] = []
    for kind, raw in entries(lang):
        word = normalize(raw)
        reason = reject_reason(word, lang, covered)
        if reason is None and (kind, word) in seen:
            reason = "duplicate"
        if reason is not None:
            drops[reason] += 1
            if reason != "duplicate" and len(examples) < 8:
                examples.append(f"{kind}:{raw}({reason})")
            continue
        seen.add((kind, word))
        kept.append((kind, word))
    return kept, drops, examples


def main(argv: list[str] | None = None) -> int:
    args = parse_lang_args(argv, __doc__, LANGS, DEFAULT_OUT)
    assert set(LANGS) - {"en"} <= set(LANG_SCRIPT)
    args.out.mkdir(parents=True, exist_ok=True)
    print("| lang | " + " | ".join(("loan", "native", *NAME_KINDS, "abbrev")) + " | total | "
          "dropped |")
    print("|---|" + "---:|" * 8)
    for lang in args.langs:
        kept, drops, examples = build(lang)
        path = args.out / f"{lang}.tsv"
        path.write_text("".join(f"{k}\t{w}\n" for k, w in kept), encoding="utf-8", newline="\n")
        n = collections.Counter(k.split(".")[0] for k, _ in kept)
        dropped = ", ".join(f"{r}={c}" for r, c in sorted(drops.items())) or "0"
        print(f"| {lang} | " + " | ".join(str(n[k]) for k in ("loan", "native", *NAME_KINDS,
                                                                 "abbrev"))
              + f" | {len(kept)} | {dropped} |")
        if examples:
            print(f"    [{lang}] dropped e.g. {', '.join(examples)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

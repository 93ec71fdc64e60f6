"""The words each engine finds on the sample photos, side by side, as a Markdown table (docs/serve.md).

Inputs are JSON-lines files: mSTR's ``mstr read --photo --json`` output (one object per photo with
``path`` and ``words``) given as ``--mstr NAME=FILE``, and the peers' ``tools/peers_photo.py`` output
(``photo``, ``engine``, ``words``) given as ``--peers FILE``. A peer's box may hold several words
(a line); every text is split on white space. Where a photo has a reference transcript beside it
(``<photo>.json`` with ``words[].text``, or ``<photo>.txt``), the table gives how many reference
words an engine found (text only, case-insensitive, letters and digits only, each reference word
matched at most once) and how many of the words it found are in the reference.

    .venv/bin/mstr read --photo --json samples/photos/*.jpg > out/mstr_photo.jsonl
    .venv-peers/bin/python tools/peers_photo.py samples/photos/*.jpg > out/peers_photo.jsonl
    .venv/bin/python tools/photo_words_table.py --mstr mSTR=out/mstr_photo.jsonl --peers out/peers_photo.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections import Counter
from pathlib import Path


def key(word: str) -> str:
    """Case-insensitive letters and digits (combining marks kept: Indic vowel signs are letters' parts)."""
    text = unicodedata.normalize("NFC", word).casefold()
    return "".join(ch for ch in text if ch.isalnum() or unicodedata.category(ch).startswith("M"))


def reference_words(photo: Path) -> list[str] | None:
    """The reference transcript of ``photo`` (its .json or .txt beside it), or None."""
    as_json, as_txt = photo.with_suffix(".json"), photo.with_suffix(".txt")
    if as_json.is_file():
        return [w["text"] for w in json.loads(as_json.read_text(encoding="utf-8"))["words"]]
    if as_txt.is_file():
        return as_txt.read_text(encoding="utf-8").split()
    return None


def load_runs(mstr: list[str], peers: list[str]) -> dict[str, dict[str, list[str]]]:
    """``{photo: {engine: [words]}}`` from the input files."""
    runs: dict[str, dict[str, list[str]]] = {}
    for spec in mstr:
        name, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"photo_words_table: --mstr takes NAME=FILE, got {spec!r}")
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if "words" in row:
                runs.setdefault(row["path"], {})[name] = [t for w in row["words"] for t in w["text"].split()]
    for path in peers:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            runs.setdefault(row["photo"], {})[row["engine"]] = [t for w in row["words"] for t in w["text"].split()]
    return runs


def score(found: list[str], reference: list[str]) -> int:
    """How many of ``found`` match a reference word, each reference word matched at most once."""
    left = Counter(key(w) for w in reference)
    hits = 0
    for word in found:
        k = key(word)
        if left[k] > 0:
            left[k] -= 1
            hits += 1
    return hits


def table(runs: dict[str, dict[str, list[str]]], excerpt: int) -> str:
    lines = []
    for photo, engines in runs.items():
        reference = reference_words(Path(photo))
        lines.append(f"**{Path(photo).name}**" + (f" — reference: {len(reference)} words" if reference else
                                                  " — no reference transcript") + "\n")
        columns = ["engine", "words found"] + (["reference words found", "found words in the reference"]
                                                if reference else []) + ["text (reading order)"]
        lines += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
        for name, words in engines.items():
            cells = [name, str(len(words))]
            if reference:
                hits = score(words, reference)
                cells += [f"{hits}/{len(reference)}", f"{hits}/{len(words)}" if words else "–"]
            text = " ".join(words)
            cells.append(text if len(text) <= excerpt else text[:excerpt].rsplit(" ", 1)[0] + " …")
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mstr", action="append", default=[], metavar="NAME=FILE",
                        help="an `mstr read --photo --json` output, shown as NAME (repeatable)")
    parser.add_argument("--peers", action="append", default=[], metavar="FILE",
                        help="a tools/peers_photo.py output (repeatable)")
    parser.add_argument("--excerpt", type=int, default=160, help="characters of text shown per cell (default 160)")
    args = parser.parse_args(argv)
    if not args.mstr and not args.peers:
        parser.error("give at least one --mstr NAME=FILE or --peers FILE")
    print(table(load_runs(args.mstr, args.peers), args.excerpt))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write the word lists of the lexicon measurements in docs/decoding.md (one word per line, UTF-8).

    .venv/bin/python tools/make_lexicons.py --out /tmp [--v2-test runs/data/v2_test]

- ``lex_en_distractors.txt``: ``wordfreq.top_n_list("en", 10000)`` — a list that does not know the answers;
- ``lex_en_dev.txt``: the labels of both real English dev splits (``configs/splits/*/dev.jsonl``), then
  those 10,000 words — a list that holds every answer;
- ``lex_4lang_distractors.txt``: ``top_n_list(lang, 2500)`` for en, hi, bn, ta (wordfreq has no Telugu,
  Malayalam, Kannada or Marathi list);
- ``lex_8lang_test.txt``: the labels of the held-out v2 test (``--v2-test``, made by
  ``tools/measure_default.sh``), then the four languages' words above. Skipped when the test is absent.

Duplicates are dropped, first occurrence kept. wordfreq's lists are CC BY-SA 4.0 (docs/data.md).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEV_SPLITS = ("configs/splits/iiit5k_train/dev.jsonl", "configs/splits/icdar15_train/dev.jsonl")
DISTRACTOR_LANGS = ("en", "hi", "bn", "ta")


def manifest_labels(path: Path) -> list[str]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append(json.loads(line)["gt_text"])
                except (ValueError, KeyError) as exc:
                    raise SystemExit(f"{path}:{n}: not a manifest record with gt_text ({exc})") from None
    return out


def lmdb_labels(root: Path) -> list[str]:
    from mstr.eval.samples import samples_from_lmdb

    return [s.gt for s in samples_from_lmdb(root).samples]


def write(path: Path, words: list[str]) -> None:
    words = list(dict.fromkeys(w for w in words if w.strip()))
    path.write_text("".join(w + "\n" for w in words), encoding="utf-8")
    print(f"wrote {path}: {len(words):,} words")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for the lists")
    p.add_argument("--v2-test", type=Path, default=Path("runs/data/v2_test"),
                   help="the held-out v2 test render (default runs/data/v2_test)")
    args = p.parse_args(argv)
    from wordfreq import top_n_list

    args.out.mkdir(parents=True, exist_ok=True)
    en = top_n_list("en", 10000)
    four = [w for lang in DISTRACTOR_LANGS for w in top_n_list(lang, 2500)]
    write(args.out / "lex_en_distractors.txt", en)
    write(args.out / "lex_en_dev.txt", [w for s in DEV_SPLITS for w in manifest_labels(Path(s))] + en)
    write(args.out / "lex_4lang_distractors.txt", four)
    if (args.v2_test / "done.json").is_file():
        write(args.out / "lex_8lang_test.txt", lmdb_labels(args.v2_test) + four)
    else:
        print(f"no {args.v2_test}/done.json: lex_8lang_test.txt skipped (make the test with tools/measure_default.sh)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

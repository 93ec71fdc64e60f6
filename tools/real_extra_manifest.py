"""Convert a ``real-extra`` manifest (``{"path", "text", "lang", "source", "license"}`` per line) into
an mSTR manifest (``id`` = sha1 of the image bytes, ``path_rel``, ``filename``, ``gt_text``, ``lang``,
``dataset``), so ``mstr data split``, ``mstr eval`` and training sources can use it.

    python tools/real_extra_manifest.py ../shared/data/real-extra/en/icdar15_train/manifest.jsonl \
        --dataset icdar15_train --out runs/icdar15_train.jsonl
    mstr data split runs/icdar15_train.jsonl --root ../shared/data/real-extra/en/icdar15_train \
        --out configs/splits/icdar15_train --frac 0.2 --seed 0

Paths stay relative to the source manifest's folder (the ``--root`` of later commands).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def convert(src: Path, dataset: str) -> tuple[list[dict], list[str]]:
    """The converted records and one problem line per skipped input line."""
    root = src.parent
    records, problems = [], []
    for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rel, text, lang = row["path"], row["text"], row["lang"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            problems.append(f"{src}:{n}: {exc}")
            continue
        path = (root / rel).resolve()
        if root.resolve() not in path.parents or not path.is_file():
            problems.append(f"{src}:{n}: image {rel!r} missing or outside {root}")
            continue
        records.append({"id": hashlib.sha1(path.read_bytes()).hexdigest(), "path_rel": rel,
                        "filename": Path(rel).name, "gt_text": text, "lang": lang, "dataset": dataset})
    return records, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest", type=Path, help="real-extra manifest.jsonl (path, text, lang per line)")
    ap.add_argument("--dataset", required=True, help="dataset name written into every record")
    ap.add_argument("--out", type=Path, required=True, help="mSTR manifest to write")
    a = ap.parse_args(argv)
    if not a.manifest.is_file():
        print(f"error: {a.manifest} not found", file=sys.stderr)
        return 2
    records, problems = convert(a.manifest, a.dataset)
    for p in problems[:5]:
        print(f"skipped: {p}", file=sys.stderr)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    print(f"{a.out}: {len(records)} records, {len(problems)} skipped")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

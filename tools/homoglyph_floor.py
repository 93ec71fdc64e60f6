"""The leakage floor of isolated-character retrieval: glyph twins across scripts.

Stage 1's test (``mstr eval mclip``) reads single character crops in held-out fonts and counts a
query as leaked when its top-1 bank entry belongs to another script (a Common entry is never a
leak). Some characters of different scripts are drawn with the same glyph: the Devanagari and
Bengali virama, nukta and candrabindu, the Telugu and Malayalam anusvara, the native zeros.
No reader of an isolated crop can tell such twins apart, so part of the leakage is fixed by the
test itself. This tool measures that part.

1. Every character of the languages is rendered clean (no augmentation; the crops of ``mstr synth
   chars --no-augment``: line box, 85 % fill, centred) in one font of every design of its languages,
   training and held-out designs alike; a rendering is its ink, 32 × 32, L2-normalised.
2. Two characters of different scripts are **twins** when some rendering of one and some rendering
   of the other have cosine ≥ ``--threshold`` (0.97, 0.98 and 0.99 by default) *and* that is at least the character's
   own agreement across its fonts (its median pairwise cosine): a second font of the same
   character differs more than the twin does.
3. Twins are grouped (connected components). A reader that always answers the same entry for a
   group's glyph leaks every query of the group whose script differs from the answer's (none when
   the answer is a Common entry); the floor takes, per group, the answer that leaks least, with the
   test's query counts (``--n`` crops per language spread evenly over its renderable characters, as
   ``mstr synth chars`` draws them). The answer that keeps most queries right (the group's most
   frequent member) gives a top-1 ceiling per script — an upper bound: twins inside a script
   (ঊ/উ, ஒ/ஓ) are not counted.

    .venv/bin/python tools/homoglyph_floor.py --langs 6lang [--n 3000] [--threshold 0.97] [--out DIR]
        [--twins-out src/mstr/configs/homoglyph_twins.json]

Prints, per threshold, the leakage floor and the top-1 ceilings, then the groups with their cosines
(Markdown); with ``--out``, also ``floor.json`` and a sheet of the renderings of the first
threshold's groups (``twins.png``); with ``--twins-out``, the first threshold's groups as the twins
file that ``mstr eval mclip`` leaves out of its net leakage (``mstr.eval.mclip_eval.load_twins``).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from mstr.charsets import load_charset, parse_langs, script_of
from mstr.fonts import fonts_for_lang
from mstr.synth.pipeline import Synthesizer, SynthOptions
from mstr.synth.render import char_render_text

COMMON = "Zyyy"


def char_script(ch: str, lang_script: str) -> str:
    """The script of a charset entry as the bank has it: the language's, or Common."""
    return lang_script if script_of(ch) == lang_script else COMMON


def render_all(langs: list[str]) -> tuple[dict[tuple[str, str], list[np.ndarray]], dict[str, list[str]],
                                            dict[tuple[str, str], list[Image.Image]]]:
    """(script, char) → ink vectors over every font of its languages; lang → its renderable
    characters (held-out fonts, as the test draws them); (script, char) → the images."""
    charsets = {lang: load_charset(lang) for lang in langs}
    vecs: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
    imgs: dict[tuple[str, str], list[Image.Image]] = defaultdict(list)
    test_chars: dict[str, list[str]] = {}
    done: set[tuple[str, str, str]] = set()
    for lang in langs:
        cs = charsets[lang]
        fonts = list({f.design: f for f in reversed(fonts_for_lang(lang, "all"))}.values())  # one file a design
        held = fonts_for_lang(lang, "heldout")
        synth = Synthesizer(fonts, SynthOptions(augment=False))
        test_chars[lang] = [c for c in cs.chars() if any(f.has(char_render_text(c)) for f in held)]
        for ch in cs.chars():
            key = (char_script(ch, cs.script), ch)
            for f in fonts:
                if (key[0], ch, f.path + str(f.index)) in done or not f.has(char_render_text(ch)):
                    continue
                done.add((key[0], ch, f.path + str(f.index)))
                img = synth.render_char(ch, np.random.default_rng(0), font=f)
                ink = 1.0 - np.asarray(img.convert("L"), np.float32) / 255.0
                norm = float(np.linalg.norm(ink))
                if norm > 0:
                    vecs[key].append((ink / norm).ravel())
                    imgs[key].append(img)
    return dict(vecs), test_chars, dict(imgs)


def cross_script_best(keys, mats) -> dict[tuple, float]:
    """(x, y) → the best cosine between a rendering of ``x`` and one of ``y``, for every pair of
    characters of different scripts."""
    return {(x, y): float((mats[x] @ mats[y].T).max())
            for x, y in itertools.combinations(keys, 2) if x[0] != y[0]}


def analyse(keys, mats, own, queries, threshold, best=None):
    """Twin groups at ``threshold``: (rows sorted by leak, the leakage floor in queries, top-1
    queries lost per script when each group answers its most frequent member). ``best``:
    :func:`cross_script_best` of ``keys``, when already computed (it does not depend on the threshold)."""
    best = cross_script_best(keys, mats) if best is None else best
    twins = [(x, y, b) for (x, y), b in best.items() if b >= threshold and b >= min(own[x], own[y])]
    # connected components
    parent = {k: k for k in keys}

    def find(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for x, y, _ in twins:
        parent[find(x)] = find(y)
    groups: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for x, y, _ in twins:
        for k in (x, y):
            if k not in groups[find(k)]:
                groups[find(k)].append(k)
    floor_leak = 0.0
    lost: dict[str, float] = defaultdict(float)
    rows = []
    for members in groups.values():
        q = {k: queries.get(k, 0.0) for k in members}
        # the answer that leaks least (ties: the one that loses fewest top-1)
        def cost(ans):  # queries of another script than the answer leak, unless the answer is Common
            return sum(v for k, v in q.items() if ans[0] != COMMON and k[0] != ans[0]), -q[ans]
        ans = min(members, key=cost)
        leak = cost(ans)[0]
        floor_leak += leak
        top = max(members, key=lambda k: q[k])  # the answer that keeps the most top-1 (for the ceilings)
        for k, v in q.items():
            if k != top:
                lost[k[0]] += v
        pairs = [f"{_show(x)} ~ {_show(y)} {s:.3f}" for x, y, s in twins if find(x) == find(members[0])]
        rows.append((leak, members, ans, pairs))
    rows.sort(key=lambda r: -r[0])
    return rows, floor_leak, lost


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--langs", default="6lang")
    ap.add_argument("--n", type=int, default=3000, help="test crops per language (mstr synth chars --n)")
    ap.add_argument("--threshold", type=float, nargs="+", default=[0.97, 0.98, 0.99],
                    help="cosines above which two renderings are twins (one analysis each; default 0.97 0.98 0.99)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--twins-out", type=Path, default=None,
                    help="write the first threshold's groups as a twins file (mstr eval mclip --twins)")
    a = ap.parse_args(argv)
    langs = parse_langs(a.langs)
    vecs, test_chars, imgs = render_all(langs)
    scripts = {lang: load_charset(lang).script for lang in langs}
    # the test's queries per (script, char)
    queries: dict[tuple[str, str], float] = defaultdict(float)
    for lang, chars in test_chars.items():
        for ch in chars:
            queries[(char_script(ch, scripts[lang]), ch)] += a.n / len(chars)
    total = sum(queries.values())
    keys = sorted(vecs)
    mats = {k: np.stack(vecs[k]) for k in keys}
    own = {}
    for k in keys:
        m = mats[k]
        sims = (m @ m.T)[np.triu_indices(len(m), 1)]
        own[k] = float(np.median(sims)) if len(sims) else 1.0
    per_script: dict[str, float] = defaultdict(float)
    for k, v in queries.items():
        per_script[k[0]] += v
    best = cross_script_best(keys, mats)
    reports = [analyse(keys, mats, own, queries, t, best) for t in a.threshold]
    print(f"## Glyph twins across scripts ({', '.join(langs)}; {total:.0f} test queries)\n")
    print("| twin cosine ≥ | groups | leakage floor % | " + " | ".join(f"top-1 ceiling {s}" for s in sorted(per_script))
          + " |")
    print("|---:|---:|---:|" + "---:|" * len(per_script))
    for t, (rows, floor_leak, lost) in zip(a.threshold, reports):
        print(f"| {t} | {len(rows)} | {100 * floor_leak / total:.2f} | "
              + " | ".join(f"{100 * (1 - lost[s] / per_script[s]):.2f}" for s in sorted(per_script)) + " |")
    for t, (rows, floor_leak, lost) in zip(a.threshold, reports):
        print(f"\n### Twins at cosine ≥ {t} (and ≥ the character's own agreement across its fonts)\n")
        print("| group | least-leaking answer | test queries of the group | leaked at least | twin pairs (best cosine) |")
        print("|---|---|---:|---:|---|")
        for leak, members, ans, pairs in rows:
            nq = sum(queries.get(k, 0.0) for k in members)
            print(f"| {' '.join(_show(k) for k in members)} | {_show(ans)} | {nq:.0f} | {leak:.0f} | {'; '.join(pairs)} |")
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        report = {"langs": langs, "n": a.n, "queries": total, "analyses": [
            {"threshold": t, "leakage_floor_pct": 100 * fl / total,
             "top1_ceiling_pct": {s: 100 * (1 - lost[s] / per_script[s]) for s in per_script},
             "groups": [{"members": [list(k) for k in m], "answer": list(ans), "leak": leak, "pairs": p}
                        for leak, m, ans, p in rows]} for t, (rows, fl, lost) in zip(a.threshold, reports)]}
        (a.out / "floor.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
        _sheet([m for _, m, _, _ in reports[0][0]], imgs).save(a.out / "twins.png")
        print(f"\nwrote {a.out / 'floor.json'} and {a.out / 'twins.png'}", file=sys.stderr)
    if a.twins_out:
        write_twins(a.twins_out, reports[0][0], a.threshold[0], langs)
        print(f"wrote {a.twins_out}", file=sys.stderr)
    return 0


def write_twins(path: Path, rows, threshold: float, langs: list[str]) -> None:
    """The twin groups of one :func:`analyse` as the twins file of ``mstr eval mclip`` (one group a line)."""
    from mstr.fonts.pool import resolve_pool

    pool = resolve_pool()
    head = {"fonts": f"font pool {pool}" if pool else "system fonts (make setup)",
            "about": f"Cross-script glyph twins: characters of different scripts whose clean renderings "
                     f"agree at cosine >= {threshold} (and at least each character's own agreement across "
                     f"its fonts). Made by: python tools/homoglyph_floor.py --langs {','.join(langs)} "
                     f"--threshold {threshold} --twins-out <this file>.",
            "threshold": threshold, "langs": langs}
    lines = [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    groups = ",\n".join(f"  {json.dumps([list(k) for k in members], ensure_ascii=False)}" for _, members, _, _ in rows)
    path.write_text("{\n" + "\n".join(lines) + '\n "groups": [\n' + groups + "\n ]\n}\n", encoding="utf-8")


def _show(k: tuple[str, str]) -> str:
    s, ch = k
    shown = ("◌" + ch) if unicodedata.category(ch).startswith("M") else ch
    return f"{shown} {s} U+{ord(ch):04X}"


def _sheet(groups: list[list[tuple[str, str]]], imgs: dict[tuple[str, str], list[Image.Image]]) -> Image.Image:
    """One row per group: up to four renderings of each member."""
    rows = []
    for members in groups[:40]:
        tiles = [im for k in members for im in imgs[k][:4]]
        row = Image.new("RGB", (34 * max(1, len(tiles)), 34), "white")
        for i, im in enumerate(tiles):
            row.paste(im.convert("RGB"), (34 * i + 1, 1))
        rows.append(row)
    width = max((r.width for r in rows), default=34)
    sheet = Image.new("RGB", (width, 34 * max(1, len(rows))), (230, 230, 230))
    for i, r in enumerate(rows):
        sheet.paste(r, (0, 34 * i))
    return sheet


if __name__ == "__main__":
    sys.exit(main())

"""Whole-photo reading on rendered multi-script signs: end-to-end word precision, recall and F.

    python tools/photo_signs.py --signs 40 [--seed 0] [--langs en,hi,bn,ta,te,ml] [--save out/signs]

Renders ``--signs`` signs (:func:`mstr.synth.signs.render_sign`, seeds ``seed .. seed + N - 1``),
reads each with ``reader.read_photo`` (the shipped default model, or ``--bundle``) and scores the
words found against the drawn ones (:mod:`mstr.eval.photo`: IoU ≥ 0.5 and the exact text). Prints
one line per language and the total, with detection + word splitting scored alone (any text)
and the reading accuracy of the true word boxes cropped from the signs (the recognizer's share of
the errors); ``--save`` writes each sign, its overlay and a JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--signs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--langs", default=None, help="comma-separated languages (default: every sign language)")
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--save", type=Path, default=None)
    args = ap.parse_args(argv)
    import numpy as np

    import mstr
    from mstr.photo import rectify
    from mstr.text import normalize
    from mstr.eval.photo import WordScore, match_words
    from mstr.synth.signs import SIGN_WORDS, render_sign

    langs = tuple(args.langs.split(",")) if args.langs else tuple(SIGN_WORDS)
    reader = mstr.load(args.bundle)
    total, per_lang, start = WordScore(), {lang: WordScore() for lang in langs}, time.time()
    boxes, oracle = WordScore(), WordScore()  # detection alone (any text); the true words' own crops read
    for seed in range(args.seed, args.seed + args.signs):
        image, truth = render_sign(seed, langs)
        result = reader.read_photo(image)
        found = [(w.text, w.polygon) for w in result.words]
        total += match_words(found, [(t.text, t.polygon) for t in truth])
        boxes += match_words([("", p) for _, p in found], [("", t.polygon) for t in truth])
        crops = [rectify(image, np.array(t.polygon) * 1.15 - np.mean(t.polygon, axis=0) * 0.15) for t in truth]
        oracle += WordScore(sum(p.text == normalize(t.text) for p, t in zip(reader.read(crops), truth)), len(truth),
                            len(truth))
        for lang in langs:  # recall per language: the true words of that language
            mine = [(t.text, t.polygon) for t in truth if t.lang == lang]
            if mine:
                s = match_words(found, mine)
                per_lang[lang] += WordScore(s.correct, 0, s.true)
        if args.save:
            from mstr.overlay import draw_overlay

            args.save.mkdir(parents=True, exist_ok=True)
            image.save(args.save / f"sign{seed}.png")
            draw_overlay(image, result).save(args.save / f"sign{seed}_overlay.png")
            (args.save / f"sign{seed}.json").write_text(json.dumps(
                {"truth": [t.text for t in truth], **result.to_dict()}, ensure_ascii=False, indent=1))
    print(f"detection and word splitting alone (IoU >= 0.5, any text): precision {boxes.precision:.3f} "
          f"recall {boxes.recall:.3f}; the true word boxes cropped and read: {oracle.recall:.3f} "
          f"({oracle.correct}/{oracle.true})")
    for lang, s in per_lang.items():
        print(f"{lang}\trecall {s.recall:.3f} ({s.correct}/{s.true})")
    print(f"all\tprecision {total.precision:.3f} ({total.correct}/{total.found})\trecall {total.recall:.3f} "
          f"({total.correct}/{total.true})\tF {total.f_score:.3f}\t{args.signs} signs in {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Choose the script-consistency margin and the lexicon limit from one read of a dev set.

Reads every sample once with the script-consistency constraint forced (margin ∞) while
:func:`mstr.reading.lang_decode.decode_words` traces, per reading that mixes scripts, the mixed reading
and its Spotter log-probability gap over the single-script one; the reading under any margin τ
is then known without reading again (the mixed one when gap > τ). WRR is printed for the
constraint off and for each τ, and — on the readings at the default τ — for each lexicon and
lexicon distance limit::

    python tools/lang_decode_study.py --manifest configs/splits/iiit5k_train/dev.jsonl \\
        --root /work/shared/data/real --langs en --convention en-benchmark --lexicon /tmp/lex_en.txt

(docs/decoding.md has the commands and the numbers.)
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import mstr
import mstr.reading.recognizer as recognizer_module
from mstr.reading.decode_options import DEFAULT_SCRIPT_MARGIN
from mstr.eval.metrics import score_sample
from mstr.eval.samples import ImageSource, samples_from_lmdb, samples_from_manifest
from mstr.reading.lang_decode import decode_words
from mstr.reading.lexicon import Lexicon
from mstr.reading.prediction import Prediction
from mstr.preprocess import preprocess


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", type=Path, default=None)
    p.add_argument("--manifest", type=Path)
    p.add_argument("--root", type=Path)
    p.add_argument("--lmdb", type=Path)
    p.add_argument("--langs", default=None)
    p.add_argument("--convention", default="default")
    p.add_argument("--margins", default="0,0.5,1,2,3,5,inf")
    p.add_argument("--lexicon", type=Path, action="append", default=[])
    p.add_argument("--max-distances", default="0.5,1,1.5,2")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", type=Path, default=None, help="JSON of the numbers")
    args = p.parse_args()
    langs = args.langs.split(",") if args.langs else None
    samples = (samples_from_manifest(args.manifest, args.root, langs=langs) if args.manifest
               else samples_from_lmdb(args.lmdb, langs)).samples
    rec = mstr.load(args.bundle)
    rec.script_margin = math.inf
    trace: list[dict] = []

    def traced(*a, **kw):
        kw["trace"] = trace
        return decode_words(*a, **kw)

    recognizer_module.decode_words = traced  # (this study only)
    bank = rec.bank
    rows: list[tuple[object, Prediction, dict | None]] = []  # sample, constrained reading, trace entry
    with ImageSource() as source:
        for start in range(0, len(samples), args.batch_size):
            batch = samples[start:start + args.batch_size]
            trace.clear()
            preds = rec.read_tensor(preprocess([source.load(s) for s in batch], rec.image_size))
            mixed = {t["row"]: t for t in trace}
            rows += [(s, q, mixed.get(i)) for i, (s, q) in enumerate(zip(batch, preds))]

    def reading(pred: Prediction, t: dict | None, tau: float) -> Prediction:
        if t is None or not t["gap"] > tau:
            return pred
        ids = t["mixed"]
        return Prediction(text=bank.decode(ids), confidence=pred.confidence, script=bank.script_vote(ids),
                          chars=[(bank.entries[i].token, q) for i, q in zip(ids, t["mixed_probs"])])

    def wrr(preds: list[Prediction]) -> float:
        ok = [score_sample(q.text, s.gt, convention=args.convention).correct for (s, _, _), q in zip(rows, preds)]
        return 100.0 * sum(ok) / max(1, len(ok))

    result = {"samples": len(rows), "mixed": sum(t is not None for _, _, t in rows),
              "off": wrr([reading(q, t, -math.inf) for _, q, t in rows]), "margins": {}, "lexicon": {}}
    for tau in [float(x) for x in args.margins.split(",")]:
        result["margins"][f"{tau:g}"] = wrr([reading(q, t, tau) for _, q, t in rows])
    default = [reading(q, t, DEFAULT_SCRIPT_MARGIN) for _, q, t in rows]
    for path in args.lexicon:
        for limit in [float(x) for x in args.max_distances.split(",")]:
            lex = Lexicon.load(path, max_distance=limit)
            result["lexicon"][f"{path.name}@{limit:g}"] = wrr(lex.correct_all(default))
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

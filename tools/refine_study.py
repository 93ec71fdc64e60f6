"""Which reading to keep, the Spotter's or the Refiner's? An offline study of refine policies.

Step 1 (``collect``) reads an LMDB once with a bundle (torch, float32, batches of 64 — as
``mstr eval`` reads it) and stores per word: the label and language; the Spotter's reading S (ids,
per-character probabilities, confidence, top-K ids and probabilities per position); the Refiner's
greedy reading R; the Refiner's one-pass *parallel* reading P (its argmax at every position when
teacher-forced on S, ``Refiner.forced``) and P2 (one more pass, teacher-forced on P); and each
model's log-probability of each reading, end of word included (``sequence_logprob``: the Spotter's
parallel logits; the Refiner teacher-forced on that reading). Confidences are those a Prediction
would carry (greedy R: product of its step probabilities; P, P2: the Refiner's probabilities of
their own tokens when teacher-forced on them, as the ``parallel`` refine mode reports them).

Step 2 (``report``) evaluates candidate policies on the stored words and prints WRR / CRR per
language for each (metrics of :mod:`mstr.eval.metrics`, default convention, so the ``spotter``,
``joint`` and ``confidence`` rows equal ``mstr eval --no-refiner`` / ``--refine-policy joint`` /
``--refine-policy confidence``). Candidates are read from the greedy reading R (``--cands r``), the
one-pass parallel reading P (``p``) or P2 (``p2``); ``--gates`` adds Spotter-confidence gates. The
"ok" column marks the policies that keep or gain WRR in every language and keep CRR (within
``--tol``) in every language against the Spotter alone — "the Refiner must not lose accuracy on any
language". Choose on a dev set, then report on the test set (docs/models.md):

    mstr synth words --langs 6lang --n 1000 --fonts heldout --seed 2 --out runs/data/words6_dev1k
    OMP_NUM_THREADS=1 .venv/bin/python tools/refine_study.py collect --lmdb runs/data/words6_dev1k \
        --langs 6lang --out runs/refine_study/dev1k.jsonl --threads 1
    .venv/bin/python tools/refine_study.py report runs/refine_study/dev1k.jsonl --cands r,p
    OMP_NUM_THREADS=1 .venv/bin/python tools/refine_study.py collect --lmdb runs/data/words6_test \
        --langs 6lang --out runs/refine_study/test.jsonl --threads 1
    .venv/bin/python tools/refine_study.py report runs/refine_study/test.jsonl --only spotter,joint,joint-edit1

``gates`` asks whether the Refiner could be skipped on words the Spotter reads with clear margins
(docs/speed.md): ``.venv/bin/python tools/refine_study.py gates runs/refine_study/dev1k.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

# --------------------------------------------------------------------------------------------
# step 1: collect


def parallel_reading(logits: "Any", given: list[list[int]], never: "Any",
                     eos_id: int = 0) -> list[tuple[list[int], list[float]]]:
    """The one-pass parallel refinement of readings ``given`` from the Refiner's logits
    teacher-forced on them (``B, T, N``, ``Refiner.forced``): per row, the argmax at positions
    ``0 … len(given[b])`` (``<pad>`` = ``never`` excluded), cut before the first ``<eos>``, and the
    argmax probabilities. Each position is conditioned on the *given* reading's prefix, so this is
    the greedy reading where it agrees with ``given`` up to that position; a reading longer than the
    scored positions (no ``<eos>`` among them) keeps them all."""
    probs, ids = logits.float().masked_fill(never, float("-inf")).softmax(-1).max(-1)
    ids, probs = ids.tolist(), probs.tolist()
    out = []
    for b, seq in enumerate(given):
        n = min(len(seq) + 1, len(ids[b]))
        row_i, row_p = ids[b][:n], probs[b][:n]
        cut = row_i.index(eos_id) if eos_id in row_i else n
        out.append((row_i[:cut], row_p[:cut]))
    return out


def _pad(seqs: list[list[int]], width: int, pad: int) -> "Any":
    import torch

    out = torch.full((len(seqs), width), pad, dtype=torch.long)
    for j, s in enumerate(seqs):
        s = s[:width]
        if s:
            out[j, :len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def collect(bundle: str, lmdb: str, langs: str | None, out: Path, batch_size: int = 64,
            threads: int | None = None) -> None:
    import torch

    import mstr
    from mstr.bank import EOS_ID, PAD_ID
    from mstr.charsets import parse_langs
    from mstr.eval.samples import ImageSource, samples_from_lmdb
    from mstr.preprocess import preprocess
    from mstr.reading.decode import cut_at_eos, sequence_logprob, spotter_decode

    if threads:
        torch.set_num_threads(threads)
    rec = mstr.load(bundle)
    ref = rec.refiner
    if ref is None:
        raise SystemExit(f"{bundle} has no Refiner")
    samples = samples_from_lmdb(lmdb, parse_langs(langs) if langs else None).samples
    k = rec.spotter.cfg.topk
    max_len = ref.cfg.max_len
    t0 = time.time()
    out.parent.mkdir(parents=True, exist_ok=True)
    n_done = 0
    with ImageSource() as source, open(out, "w", encoding="utf-8") as fh, torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            chunk = samples[start:start + batch_size]
            x = preprocess([source.load(s) for s in chunk], rec.image_size)
            o = rec._reader(x.contiguous(memory_format=rec._memory_format))
            ids, p, top_i, top_p = spotter_decode(o.logits, k)
            spotted = [cut_at_eos(i, q) for i, q in zip(ids.tolist(), p.tolist())]
            g_ids, g_p = ref.greedy(top_i, top_p, o.features, EOS_ID)
            greedy = [cut_at_eos(i, q) for i, q in zip(g_ids.tolist(), g_p.float().tolist())]
            cross = ref.cross_kv(ref.memory(top_i, top_p, o.features))

            def forced(seqs: list[list[int]]) -> "torch.Tensor":
                width = min(max(len(s) for s in seqs), max_len - 1)
                return ref.forced(_pad(seqs, width, PAD_ID), cross)

            s_seqs = [r[0] for r in spotted]
            logits_s = forced(s_seqs)
            par = parallel_reading(logits_s, s_seqs, ref.never, EOS_ID)   # P from one pass on S
            p_seqs = [r[0] for r in par]
            logits_p = forced(p_seqs)
            par2 = parallel_reading(logits_p, p_seqs, ref.never, EOS_ID)  # P2: one more pass, on P
            p2_seqs = [r[0] for r in par2]
            r_seqs = [r[0] for r in greedy]
            logits_r = forced(r_seqs)
            logits_p2 = forced(p2_seqs)

            def own(logits: "torch.Tensor", seqs: list[list[int]]) -> list[tuple[list[float], float]]:
                """The Refiner's probabilities of each reading's own tokens (teacher-forced on it)."""
                prob = logits.float().masked_fill(ref.never, float("-inf")).softmax(-1)
                res = []
                for b, s in enumerate(seqs):
                    tgt = (s + [EOS_ID])[:prob.shape[1]]
                    q = prob[b, torch.arange(len(tgt)), torch.tensor(tgt)].tolist()
                    conf = math.prod(q) if len(s) + 1 <= prob.shape[1] else 0.0
                    res.append((q[:len(s)], conf))
                return res

            own_p, own_p2 = own(logits_p, p_seqs), own(logits_p2, p2_seqs)
            lp = {}
            for name, seqs, r_logits in (("s", s_seqs, logits_s), ("r", r_seqs, logits_r), ("p", p_seqs, logits_p),
                                         ("p2", p2_seqs, logits_p2)):
                lp[name] = (sequence_logprob(o.logits, seqs).tolist(), sequence_logprob(r_logits, seqs).tolist())
            ti, tp = top_i.tolist(), top_p.tolist()
            for b, sample in enumerate(chunk):
                row: dict[str, Any] = {"id": sample.id, "lang": sample.lang, "gt": sample.gt,
                                       "top_i": ti[b], "top_p": [[round(v, 5) for v in r] for r in tp[b]]}
                for name, reading, conf in (("s", spotted[b], spotted[b][2]), ("r", greedy[b], greedy[b][2]),
                                            ("p", (p_seqs[b], own_p[b][0]), own_p[b][1]),
                                            ("p2", (p2_seqs[b], own_p2[b][0]), own_p2[b][1])):
                    row[name] = {"ids": reading[0], "probs": [round(v, 6) for v in reading[1]], "conf": conf,
                                 "text": rec.bank.decode(reading[0]),
                                 "lp_spotter": lp[name][0][b], "lp_refiner": lp[name][1][b]}
                row["p"]["pass1_probs"] = [round(v, 6) for v in par[b][1]]
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n_done += len(chunk)
            print(f"\r{n_done}/{len(samples)} words, {time.time() - t0:.0f} s", end="", file=sys.stderr, flush=True)
    print(f"\nwrote {out}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# step 2: policies


def _ed(a: list[int], b: list[int]) -> int:
    from mstr.eval.metrics import edit_distance

    # edit distance over token ids (one bank entry = one code point after NFKD for the 6 languages)
    return edit_distance("".join(map(chr, [i + 0x100 for i in a])), "".join(map(chr, [i + 0x100 for i in b])))


def _joint(w: dict[str, Any], cand: str) -> float:
    """joint score of the candidate minus that of the Spotter's reading."""
    c, s = w[cand], w["s"]
    return (c["lp_spotter"] + c["lp_refiner"]) - (s["lp_spotter"] + s["lp_refiner"])


def _in_topk(w: dict[str, Any], cand: str, k: int) -> bool:
    """Every character of the candidate is among the Spotter's top-k at its position (and the
    candidate's end of word among the top-k at its position)."""
    ids = w[cand]["ids"] + [0]
    top = w["top_i"]
    if len(ids) > len(top):
        return False
    return all(t in top[j][:k] for j, t in enumerate(ids))


def policies(cand: str = "r") -> dict[str, Callable[[dict[str, Any]], bool]]:
    """name → take(word): True keeps the candidate (``r`` greedy, ``p`` parallel), False the Spotter's."""
    def differ(w: dict[str, Any]) -> bool:
        return w[cand]["ids"] != w["s"]["ids"]

    def joint(w: dict[str, Any], margin: float = 0.0) -> bool:
        return differ(w) and _joint(w, cand) > margin

    pol: dict[str, Callable[[dict[str, Any]], bool]] = {
        "always": lambda w: True,
        "confidence": lambda w: w[cand]["conf"] >= w["s"]["conf"],
        "joint": joint,
    }
    for m in (0.5, 1, 2, 3, 5):
        pol[f"joint-margin{m:g}"] = lambda w, m=m: joint(w, m)
    for d in (0, 1):
        pol[f"joint-len{d}"] = lambda w, d=d: joint(w) and abs(len(w[cand]["ids"]) - len(w["s"]["ids"])) <= d
    for e in (1, 2, 3):
        pol[f"joint-edit{e}"] = lambda w, e=e: joint(w) and _ed(w[cand]["ids"], w["s"]["ids"]) <= e
    for k in (2, 3, 5):
        pol[f"joint-top{k}"] = lambda w, k=k: joint(w) and _in_topk(w, cand, k)
    pol["joint-edit1-or-margin3"] = lambda w: joint(w) and (_ed(w[cand]["ids"], w["s"]["ids"]) <= 1 or _joint(w, cand) > 3)
    # the Spotter must not find the candidate much less likely than its own reading
    for m in (2, 5, 10):
        pol[f"joint-spotter{m:g}"] = lambda w, m=m: joint(w) and (w[cand]["lp_spotter"] - w["s"]["lp_spotter"]) > -m
    return pol


def evaluate(words: list[dict[str, Any]], take: Callable[[dict[str, Any]], bool] | None, cand: str = "r",
             gate: float | None = None) -> dict[str, dict[str, float]]:
    """Per language and Combined: WRR, CRR, words changed. ``take`` None = the Spotter alone;
    ``gate``: words whose Spotter confidence is at least ``gate`` keep the Spotter's reading."""
    from mstr.eval.metrics import aggregate, score_sample

    by: dict[str, list[Any]] = {}
    changed: dict[str, int] = {}
    for w in words:
        use = take is not None and (gate is None or w["s"]["conf"] < gate) and take(w)
        text = w[cand]["text"] if use else w["s"]["text"]
        sc = score_sample(text, w["gt"])
        for key in (w["lang"], "Combined"):
            by.setdefault(key, []).append(sc)
            changed[key] = changed.get(key, 0) + (use and w[cand]["ids"] != w["s"]["ids"])
    res = {}
    for key, scores in by.items():
        a = aggregate(scores)
        res[key] = {"wrr": a["wrr"], "crr": a["crr"], "changed": changed[key]}
    return res


def load_words(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


LANG_ORDER = ("en", "hi", "bn", "ta", "te", "ml")


def report(path: str, only: list[str] | None, cands: list[str], gates: list[float | None], tol: float,
           digits: int = 2) -> None:
    words = load_words(path)
    langs = [l for l in LANG_ORDER if any(w["lang"] == l for w in words)] + sorted(
        {w["lang"] for w in words} - set(LANG_ORDER))
    base = evaluate(words, None)
    rows = [("spotter", None, base)]
    for cand in cands:
        for name, take in policies(cand).items():
            for gate in gates:
                label = (f"{name}" if cand == "r" else f"{name} [{cand}]") + ("" if gate is None else f" gate<{gate:g}")
                if only and not any(label == o or label.split(" ")[0] == o for o in only):
                    continue
                rows.append((label, gate, evaluate(words, take, cand, gate)))
    cols = langs + ["Combined"]
    print(f"{path}: {len(words)} words; WRR / CRR per language; ok = WRR >= and CRR >= spotter - {tol:g} "
          "in every language\n")
    print("| policy | " + " | ".join(f"WRR {c}" for c in cols) + " | " + " | ".join(f"CRR {c}" for c in cols)
          + " | changed | ok |")
    print("|---|" + "---:|" * (2 * len(cols) + 2))
    for label, _, res in rows:
        ok = all(res[c]["wrr"] >= base[c]["wrr"] - 1e-9 and res[c]["crr"] >= base[c]["crr"] - tol for c in langs)
        print(f"| {label} | " + " | ".join(f"{res[c]['wrr']:.{digits}f}" for c in cols) + " | "
              + " | ".join(f"{res[c]['crr']:.{digits}f}" for c in cols)
              + f" | {res['Combined']['changed']} | {'yes' if ok and label != 'spotter' else ''} |")


def skip_gates(path: str, policy: str = "joint-edit1") -> None:
    """Could the Refiner be skipped on words the Spotter reads with clear margins? For gates on the
    Spotter's top-K probabilities at every position of its reading (end of word included): the
    share of words skipped, Combined WRR / CRR with the gate, and the worst per-language WRR / CRR
    change against the Spotter alone."""
    words = load_words(path)
    take = policies("r")[policy]
    base, full = evaluate(words, None), evaluate(words, take)
    langs = sorted({w["lang"] for w in words})
    print(f"{path}: {len(words)} words; {policy}: WRR {full['Combined']['wrr']:.2f} CRR {full['Combined']['crr']:.2f}"
          f" (Spotter alone {base['Combined']['wrr']:.2f} / {base['Combined']['crr']:.2f})\n")
    print("| gate: skip the Refiner when every position has | skipped % | WRR | CRR | worst ΔWRR | worst ΔCRR |")
    print("|---|---:|---:|---:|---:|---:|")
    tops = {id(w): w["top_p"][:len(w["s"]["ids"]) + 1] for w in words}
    gates = [(f"top-2/top-1 ≤ {t:g}", lambda w, t=t: all(p[1] <= t * p[0] for p in tops[id(w)])) for t in (0.2, 0.3, 0.5, 0.7)]
    gates += [(f"top-1 − top-2 ≥ {t:g}", lambda w, t=t: all(p[0] - p[1] >= t for p in tops[id(w)])) for t in (0.02, 0.05, 0.1, 0.2)]
    for label, skip in gates:
        res = evaluate(words, lambda w, skip=skip: not skip(w) and take(w))
        share = 100 * sum(map(skip, words)) / len(words)
        dw = min(res[l]["wrr"] - base[l]["wrr"] for l in langs)
        dc = min(res[l]["crr"] - base[l]["crr"] for l in langs)
        print(f"| {label} | {share:.1f} | {res['Combined']['wrr']:.2f} | {res['Combined']['crr']:.2f} | {dw:+.2f} | {dc:+.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="read an LMDB once and store every reading and score per word")
    c.add_argument("--bundle", default="src/mstr/resources/models/v4")
    c.add_argument("--lmdb", required=True)
    c.add_argument("--langs", default=None)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--batch-size", type=int, default=64)
    c.add_argument("--threads", type=int, default=None)
    r = sub.add_parser("report", help="WRR / CRR per language for each candidate policy")
    r.add_argument("words", help="the file written by collect")
    r.add_argument("--only", default=None, help="comma-separated policy names (default: all)")
    r.add_argument("--cands", default="r,p", help="candidate readings: r (greedy), p (parallel), p2 (default r,p)")
    r.add_argument("--gates", default="none", help="Spotter-confidence gates, e.g. none,0.9,0.5 (default none)")
    r.add_argument("--tol", type=float, default=0.0, help="CRR tolerance for 'ok' (default 0)")
    g = sub.add_parser("gates", help="skip gates on the Spotter's per-position margins: words skipped, accuracy kept")
    g.add_argument("words", help="the file written by collect")
    g.add_argument("--policy", default="joint-edit1")
    args = ap.parse_args()
    if args.cmd == "gates":
        skip_gates(args.words, args.policy)
    elif args.cmd == "collect":
        collect(args.bundle, args.lmdb, args.langs, args.out, args.batch_size, args.threads)
    else:
        gates = [None if g == "none" else float(g) for g in args.gates.split(",")]
        report(args.words, args.only.split(",") if args.only else None, args.cands.split(","), gates, args.tol)


if __name__ == "__main__":
    main()

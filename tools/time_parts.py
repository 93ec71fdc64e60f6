"""Where a bundle's reading time goes: timers around the Spotter, the Refiner's memory, its
projection to keys and values, its teacher-forced passes and the whole refine step.

    .venv/bin/python tools/time_parts.py --bundle B --lmdb runs/data/words6_test --langs 6lang \\
        [--max-samples 1200] [--bf16] [--threads 2]

Prints words/s of ``read()`` over the crops (evenly spaced over the languages) and the milliseconds
per word spent inside each timed call (the refine step includes the Refiner's calls and the
host-side bookkeeping around them). Rough: the timers themselves cost a little, and this machine's
speed drifts by up to ±20 % between windows — compare figures from one run only.
"""
from __future__ import annotations

import argparse
import collections
import sys
import time

import torch

import mstr
import mstr.inputs as inputs
from mstr.charsets import parse_langs
from mstr.eval.samples import ImageSource, limit_samples, samples_from_lmdb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", default=None, help="bundle folder (default: the shipped model)")
    ap.add_argument("--lmdb", required=True)
    ap.add_argument("--langs", default=None)
    ap.add_argument("--max-samples", type=int, default=1200)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    samples = limit_samples(samples_from_lmdb(a.lmdb, parse_langs(a.langs) if a.langs else None), a.max_samples)
    with ImageSource() as source:
        images = [source.load(s) for s in samples.samples]
    rec = mstr.load(a.bundle, bf16=a.bf16)
    spent: collections.Counter[str] = collections.Counter()

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t
        return wrapper

    rec._reader.forward = timed("spotter", rec._reader.forward)
    rec._refined = timed("refine step", rec._refined)
    inputs.to_tensor = timed("preprocess", inputs.to_tensor)
    if rec.refiner is not None:
        for name in ("memory", "cross_kv", "forced"):
            setattr(rec.refiner, name, timed(f"refiner.{name}", getattr(rec.refiner, name)))
    rec.read(images[:64])                       # warm-up
    spent.clear()
    t = time.perf_counter()
    rec.read(images)
    seconds = time.perf_counter() - t
    n = len(images)
    print(f"{a.bundle or 'default'} ({'bf16' if a.bf16 else 'fp32'}, {a.threads} threads, {n} crops): "
          f"{n / seconds:.1f} words/s, {1000 * seconds / n:.3f} ms/word")
    for name, v in spent.most_common():
        print(f"  {name:16s} {1000 * v / n:.3f} ms/word")
    return 0


if __name__ == "__main__":
    sys.exit(main())

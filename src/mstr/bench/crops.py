"""``mstr bench`` on real crops: decoding and preprocessing time, ``read()`` throughput and exact match,
batch-1 latency by label length, and the rows compared on the same crops — the whole pipeline
read by several processes, and Tesseract (every row then as a multiple of its words/s)."""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from mstr.bench.configs import Config
from mstr.errors import UserError

__all__ = ["LENGTH_BUCKETS", "load_crops", "real_crops", "parallel_and_tesseract_rows"]

#: label-length buckets for real crops (NFKD code points)
LENGTH_BUCKETS = ((1, 3), (4, 6), (7, 9), (10, 12), (13, 99))


def load_crops(samples: Sequence[Any], size: tuple[int, int]) -> dict[str, Any]:
    """Decode and preprocess real crops, timing both per image."""
    from mstr.eval.samples import ImageSource
    from mstr.images import BadImage
    from mstr.preprocess import preprocess
    from mstr.text import normalize

    images, labels, langs, decode_s, prep_s = [], [], [], [], []
    with ImageSource() as source:
        for s in samples:
            t0 = time.perf_counter()
            try:
                im = source.load(s)
            except BadImage:
                continue
            t1 = time.perf_counter()
            preprocess([im], size)
            decode_s.append(t1 - t0)
            prep_s.append(time.perf_counter() - t1)
            images.append(im)
            labels.append(normalize(s.gt))
            langs.append(s.lang)
    if not images:
        raise UserError("none of the given crops could be decoded")
    return {"images": images, "labels": labels, "langs": langs, "decode_ms": 1e3 * statistics.median(decode_s),
            "preprocess_ms": 1e3 * statistics.median(prep_s)}


def real_crops(configs: Sequence[Config], crops: dict[str, Any], batch: int, repeats: int) -> dict[str, Any]:
    """``read()``-equivalent throughput and exact match on the crops; batch-1 latency by label length."""
    from mstr.preprocess import preprocess

    images, labels = crops["images"], crops["labels"]
    size = configs[0].reader.image_size
    out: dict[str, Any] = {"images": len(images), "decode_ms": crops["decode_ms"],
                           "preprocess_ms": crops["preprocess_ms"], "read": [], "by_length": []}
    for cfg in configs:
        t0 = time.perf_counter()
        preds = _read_images(cfg, images, batch, size)
        elapsed = time.perf_counter() - t0
        out["read"].append({"name": cfg.name, "words_per_s": len(images) / elapsed,
                            "exact_match": 100.0 * sum(p.text == g for p, g in zip(preds, labels)) / len(images)})
    for lo, hi in LENGTH_BUCKETS:
        idx = [i for i, g in enumerate(labels) if lo <= len(g) <= hi][:max(1, repeats)]
        if not idx:
            continue
        row: dict[str, Any] = {"length": f"{lo}-{hi}" if hi < 99 else f"{lo}+", "words": len(idx)}
        for cfg in configs:
            xs = [cfg.prepare(preprocess([images[i]], size)) for i in idx]
            cfg.read(xs[0])
            times = []
            for x in xs:
                t0 = time.perf_counter()
                cfg.read(x)
                times.append(time.perf_counter() - t0)
            row[cfg.name] = 1e3 * statistics.median(times)
        out["by_length"].append(row)
    return out


def _read_calls(name: str, read: Callable[[list[Any], list[Any]], list[Any]], crops: dict[str, Any],
                batch: int) -> dict[str, Any]:
    """words/s and exact match of ``read(images, langs)`` called once per batch of decoded crops
    (after an untimed warm-up call), as ``mstr compare`` times an engine."""
    images, labels, langs = crops["images"], crops["labels"], crops["langs"]
    read(images[:batch], langs[:batch])
    preds, seconds = [], 0.0
    for i in range(0, len(images), batch):
        t0 = time.perf_counter()
        preds += read(images[i:i + batch], langs[i:i + batch])
        seconds += time.perf_counter() - t0
    return {"name": name, "words_per_s": len(images) / seconds,
            "exact_match": 100.0 * sum(p.text == g for p, g in zip(preds, labels)) / len(images)}


def parallel_and_tesseract_rows(bundle: str | Path, rec: Any, crops: dict[str, Any], batch: int, threads: int,
                            workers: int | None, tesseract: bool, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Rows for the real-crop table: the whole pipeline (Spotter + Refiner, or the Spotter of a
    bundle without one) read by ``workers`` processes sharing the threads (float32 and bfloat16),
    and Tesseract with ``threads`` processes on the same crops."""
    from mstr.api import load

    rows = []
    if workers:
        for bf16 in (False, True):
            what = "spotter+refiner" if rec.refiner is not None else "spotter"
            name = f"{what} torch {'bf16' if bf16 else 'fp32'}, {workers} workers"
            say(f"timing {name}")
            with load(bundle, bf16=bf16, workers=workers, worker_threads=max(1, threads // workers),
                      refine_policy=rec.refine_policy, refine_mode=rec.refine_mode, refine_below=rec.refine_below,
                      refine_ratio=rec.refine_ratio) as reader:
                rows.append(_read_calls(name, lambda ims, _langs: reader.read(ims, batch_size=batch), crops, batch))
    if tesseract:
        from mstr.engines.tesseract import PACKS, TesseractEngine

        langs = crops["langs"]
        if any(lang not in PACKS for lang in langs):
            raise UserError("--tesseract needs crops whose language Tesseract has a pack for "
                            f"({', '.join(sorted(PACKS))}); got {sorted({str(x) for x in langs} - set(PACKS))}")
        engine = TesseractEngine(sorted(set(langs)), threads=threads)
        name = f"tesseract ({threads} processes, told each crop's language)"
        say(f"timing {name}")
        rows.append(_read_calls(name, engine.read, crops, batch))
    return rows


def _read_images(cfg: Config, images: Sequence[Any], batch: int, size: tuple[int, int]) -> list[Any]:
    from mstr.preprocess import preprocess

    preds = []
    for i in range(0, len(images), batch):
        preds += cfg.read(cfg.prepare(preprocess(images[i:i + batch], size)))
    return preds

"""Speed of a model bundle on this machine: ``mstr bench --bundle B``.

What is measured (every figure through ``read_tensor``: preprocessed batch → Predictions, so the
decoding on the host is included):

* **machine** — CPU model and the instruction-set flags that matter here (AVX-512, AVX512-BF16,
  AMX, VNNI), logical CPUs, threads used, torch / onnxruntime versions, the load average at start
  (a busy machine makes every figure slower);
* **model** — parameters of the Spotter and the Refiner, bank size, FLOPs per word
  (:class:`torch.utils.flop_counter.FlopCounterMode`; one multiply-add = 2 FLOPs) for the Spotter
  and for the Refiner as torch runs it (re-running the prefix each step) and as the ONNX graphs
  run it (cached step), at a typical and at the maximal number of decoding steps;
* **configurations** — Spotter in torch float32 / channels-last / bfloat16 autocast /
  bfloat16 + channels-last, Spotter in onnxruntime float32 / int8, and Spotter + Refiner in
  torch float32 / bfloat16 and onnxruntime float32 / int8. For each: batch-1 latency (median and
  90th percentile over ``repeats`` calls, ms) and throughput at ``batch`` (words/s over ``n``
  words), plus the share of words read exactly as the float32 torch configuration of the same
  pipeline reads them (int8 and bf16 change numbers slightly);
* **decoding steps** — batch-1 latency of the Refiner alone against the number of greedy steps
  (= label length + 1), which is what makes Spotter + Refiner latency depend on the word;
* **real crops** (``samples=``, from ``--lmdb`` or ``--manifest``) — decoding and preprocessing
  time per image, ``read()`` throughput from decoded images, and batch-1 latency by label length.

Inputs are random tensors in [-1, 1] unless real crops are given: fine for the Spotter (its cost
does not depend on the content), not for Spotter + Refiner, whose cost grows with the number of
characters it reads (see the decoding-steps table, and ``mean chars``).

Imports torch, onnxruntime when present, and the inference modules; never training code.
"""
from __future__ import annotations

import copy
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from mstr.errors import UserError

__all__ = ["machine_info", "busy_warning", "model_info", "run_bench", "format_markdown", "Config"]

#: CPU flags reported (what decides bf16 / int8 speed on x86)
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")
#: label-length buckets for real crops (NFKD code points)
LENGTH_BUCKETS = ((1, 3), (4, 6), (7, 9), (10, 12), (13, 99))


# --------------------------------------------------------------------------------------------
# machine and model


def _cpu_model_and_flags() -> tuple[str, list[str]]:
    model, flags = "", []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    have = set(value.split())
                    flags = [fl for fl in CPU_FLAGS if fl in have]
                if model and flags:
                    break
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags


def machine_info(threads: int) -> dict[str, Any]:
    """CPU model, flags, CPUs, threads, versions and the load average now."""
    model, flags = _cpu_model_and_flags()
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"cpu": model, "cpu_flags": flags, "logical_cpus": os.cpu_count(), "threads": threads,
            "torch": torch.__version__, "onnxruntime": ort_version, "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_at_start": load}


def busy_warning(machine: dict[str, Any]) -> str | None:
    """A warning when other processes were using the CPUs at start (figures will be slow and noisy)."""
    load, cpus = machine.get("loadavg_at_start"), machine.get("logical_cpus") or 1
    if not load or load[0] < 0.5:
        return None
    others = f"load average {load[0]:.1f} on {cpus} logical CPUs: other processes are running"
    if load[0] + machine["threads"] > cpus + 0.5:
        return (f"warning: {others}, and with {machine['threads']} threads the CPUs are oversubscribed — threads "
                "wait for each other and the figures can be many times too slow; rerun on an idle machine")
    return f"note: {others}; the figures may be slower than on an idle machine"


def _flops(fn: Callable[[], Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def model_info(rec: Any, typical_steps: int = 8) -> dict[str, Any]:
    """Parameter counts and FLOPs per word of a torch :class:`~mstr.reading.recognizer.Recognizer`."""
    from mstr.bank import EOS_ID
    from mstr.reading.decode import spotter_decode

    spotter = copy.deepcopy(rec.spotter).float().requires_grad_(False)  # FlopCounterMode's module
    refiner = copy.deepcopy(rec.refiner).float().requires_grad_(False) if rec.refiner is not None else None
    params = {"spotter": sum(p.numel() for p in spotter.parameters()),
              "refiner": sum(p.numel() for p in refiner.parameters()) if refiner is not None else 0,
              "bank": int(rec.bank.vectors.numel()), "bank_entries": len(rec.bank), "bank_dim": rec.bank.dim}
    b = 2
    h, w = rec.image_size
    x = torch.rand(b, 3, h, w) * 2 - 1
    flops: dict[str, Any] = {"spotter": _flops(lambda: spotter(x)) // b}
    if refiner is not None:
        from mstr.onnx.graphs import RefinerMemoryGraph, RefinerStepGraph, refiner_dims, zero_cache

        out = spotter(x)
        _, _, top_i, top_p = spotter_decode(out.logits.detach(), spotter.cfg.topk)
        feats = [f.detach() for f in out.features]
        mem_flops = _flops(lambda: refiner.memory(top_i, top_p, feats)) // b
        mem = refiner.memory(top_i, top_p, feats)
        steps = refiner.cfg.max_len
        ids = torch.full((b, steps), EOS_ID + 2, dtype=torch.long)
        def step(t: int) -> Any:  # one step of Refiner.greedy: the decoder over BOS + t tokens
            return refiner.logits(refiner.decoder(refiner.embed_inputs(ids[:, :t]), mem)[:, -1])

        per_step = [_flops(lambda t=t: step(t)) // b for t in range(steps)]
        graph, step_graph = RefinerMemoryGraph(refiner), RefinerStepGraph(refiner)
        dims = refiner_dims(refiner)
        cross = graph(top_i, top_p, *feats)
        cache = [torch.from_numpy(c) for c in zero_cache(b, **dims)]
        cached_mem = _flops(lambda: graph(top_i, top_p, *feats)) // b
        cached_step = _flops(lambda: step_graph(ids[:, 0], torch.tensor(steps - 1), *cross, *cache)) // b
        typical = min(typical_steps, steps)
        flops.update({
            "refiner_steps_typical": typical, "refiner_steps_max": steps,
            "refiner_torch_typical": mem_flops + sum(per_step[:typical]),
            "refiner_torch_max": mem_flops + sum(per_step),
            "refiner_cached_typical": cached_mem + typical * cached_step,
            "refiner_cached_max": cached_mem + steps * cached_step,
        })
    return {"params": params, "flops_per_word": flops}


# --------------------------------------------------------------------------------------------
# configurations


@dataclass
class Config:
    """One way of reading: ``reader.read_tensor(prepare(x), use_refiner)``."""

    name: str
    backend: str            # torch | onnx
    precision: str          # fp32 | bf16 | int8
    refiner: bool
    reader: Any
    channels_last: bool = False
    reference: str | None = None  # the configuration whose readings agreement is measured against

    @property
    def refine(self) -> str | None:
        """``policy/mode`` (``, below P`` with a gate) of a configuration with the Refiner."""
        if not self.refiner:
            return None
        mode = self.reader.refine_mode
        if mode == "auto":
            from mstr.reading.refine_policy import resolve_refine_mode

            mode = "greedy" if self.backend == "onnx" else resolve_refine_mode(self.reader.refine_policy, mode)
        below, ratio = self.reader.refine_below, self.reader.refine_ratio
        return (f"{self.reader.refine_policy}/{mode}" + ("" if ratio is None else f", ratio {ratio:g}")
                + ("" if below is None else f", below {below:g}"))

    def prepare(self, x: torch.Tensor) -> Any:
        if self.backend == "onnx":
            return x.numpy()
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def read(self, x: Any) -> list[Any]:
        return self.reader.read_tensor(x, use_refiner=self.refiner)


def _torch_configs(rec: Any) -> list[Config]:
    import dataclasses

    from mstr.reading.recognizer import Recognizer

    def variant(bf16: bool, channels_last: bool, mode: str | None = None) -> Any:
        return Recognizer(rec.spotter, rec.bank, rec.refiner, config=rec.config, name=rec.name, bf16=bf16,
                          refine=dataclasses.replace(rec.refine_settings, mode=mode or rec.refine_mode),
                          channels_last=channels_last)

    base = "spotter torch fp32"
    out = [Config(base, "torch", "fp32", False, variant(False, False)),
           Config("spotter torch fp32 channels-last", "torch", "fp32", False, variant(False, True), True, base),
           Config("spotter torch bf16", "torch", "bf16", False, variant(True, False), False, base),
           Config("spotter torch bf16 channels-last", "torch", "bf16", False, variant(True, True), True, base)]
    if rec.refiner is not None:
        ref = "spotter+refiner torch fp32"
        out += [Config(ref, "torch", "fp32", True, variant(False, False)),
                Config("spotter+refiner torch bf16", "torch", "bf16", True, variant(True, False), False, ref),
                Config("spotter+refiner torch bf16 channels-last", "torch", "bf16", True, variant(True, True), True,
                       ref)]
        from mstr.reading.refine_policy import resolve_refine_mode

        if resolve_refine_mode(rec.refine_policy, rec.refine_mode) != "greedy":
            # the same pipelines decoding step by step: what the parallel mode saves
            out += [Config(ref + " greedy", "torch", "fp32", True, variant(False, False, "greedy"), False, ref),
                    Config("spotter+refiner torch bf16 channels-last greedy", "torch", "bf16", True,
                           variant(True, True, "greedy"), True, ref)]
    return out


def _onnx_configs(folder: Path, threads: int, has_refiner: bool, refine: dict[str, Any]) -> list[Config]:
    import json

    from mstr.onnx.format import MANIFEST
    from mstr.onnx.runtime import OnnxRecognizer, find_export
    from mstr.reading.refine_policy import RefineSettings

    folder = find_export(folder)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    precisions = (False, True) if manifest.get("int8") else (False,)
    has_refiner = has_refiner and bool(manifest.get("refiner"))
    out = []
    for int8 in precisions:
        prec = "int8" if int8 else "fp32"
        spot = OnnxRecognizer(folder, refiner=False, int8=int8, threads=threads)
        out.append(Config(f"spotter onnx {prec}", "onnx", prec, False, spot, reference="spotter torch fp32"))
    if has_refiner:
        for int8 in precisions:
            prec = "int8" if int8 else "fp32"
            full = OnnxRecognizer(folder, refiner=True, int8=int8, threads=threads,
                                  refine=RefineSettings.from_kwargs(**refine))
            out.append(Config(f"spotter+refiner onnx {prec}", "onnx", prec, True, full,
                              reference="spotter+refiner torch fp32"))
    return out


# --------------------------------------------------------------------------------------------
# timing


def _timed(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _p90(values: Sequence[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]


def _measure(cfg: Config, x1: torch.Tensor, xb: torch.Tensor, n: int, repeats: int) -> dict[str, Any]:
    a1 = cfg.prepare(x1)
    lat = _timed(lambda: cfg.read(a1), repeats)
    batches = max(1, -(-n // xb.shape[0]))
    ab = cfg.prepare(xb)
    cfg.read(ab)  # warm-up
    t0 = time.perf_counter()
    for _ in range(batches):
        preds = cfg.read(ab)
    elapsed = time.perf_counter() - t0
    texts = [p.text for p in preds]
    return {"name": cfg.name, "backend": cfg.backend, "precision": cfg.precision, "refiner": cfg.refiner,
            "channels_last": cfg.channels_last, "refine": cfg.refine,
            "latency_ms": {"median": 1e3 * statistics.median(lat), "p90": 1e3 * _p90(lat), "repeats": repeats},
            "throughput_wps": batches * xb.shape[0] / elapsed, "batch": int(xb.shape[0]),
            "words": batches * int(xb.shape[0]), "mean_chars": float(np.mean([len(p.chars) for p in preds])),
            "_texts": texts}


def _steps_table(rec: Any, onnx_full: Any, x1: torch.Tensor, repeats: int) -> list[dict[str, Any]]:
    """Batch-1 latency of the Refiner alone for a forced number of greedy steps (no early stop)."""
    from mstr.bank import EOS_ID
    from mstr.onnx.graphs import greedy_loop, memory_feeds
    from mstr.reading.decode import spotter_decode

    ref = rec.refiner
    steps_max = ref.cfg.max_len
    counts = sorted({s for s in (1, 2, 4, 8, 12, 16, 20, steps_max) if s <= steps_max})
    with torch.inference_mode():
        out = rec.spotter(x1)
    _, _, top_i, top_p = spotter_decode(out.logits, rec.spotter.cfg.topk)
    feats = list(out.features)

    def torch_greedy(n: int, bf16: bool) -> None:  # Refiner.greedy without the early stop
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            mem = ref.memory(top_i, top_p, feats)
            ids = top_i.new_zeros((1, 0))
            for _ in range(n):
                h = ref.decoder(ref.embed_inputs(ids), mem)
                nxt = ref.logits(h[:, -1]).masked_fill(ref.never, float("-inf")).argmax(-1)
                ids = torch.cat([ids, nxt[:, None]], dim=1)

    rows = []
    np_feats = [f.numpy() for f in feats]
    for n in counts:
        row: dict[str, Any] = {"steps": n}
        row["torch_fp32_ms"] = 1e3 * statistics.median(_timed(lambda: torch_greedy(n, False), repeats, 1))
        row["torch_bf16_ms"] = 1e3 * statistics.median(_timed(lambda: torch_greedy(n, True), repeats, 1))
        for key, reader in onnx_full.items():
            def run(reader: Any = reader) -> None:
                cross = reader._memory.run(None, memory_feeds(reader._memory, top_i.numpy(), top_p.numpy(), np_feats))
                greedy_loop(lambda feeds: reader._step.run(None, feeds), cross, eos_id=EOS_ID, max_steps=n,
                            stop_early=False, **reader._dims)
            row[f"{key}_ms"] = 1e3 * statistics.median(_timed(run, repeats, 1))
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# real crops


def _load_crops(samples: Sequence[Any], size: tuple[int, int]) -> dict[str, Any]:
    """Decode and preprocess real crops, timing both per image."""
    from mstr.eval.words import ImageSource
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


def _real(configs: Sequence[Config], crops: dict[str, Any], batch: int, repeats: int) -> dict[str, Any]:
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


def _parallel_and_tesseract(bundle: str | Path, rec: Any, crops: dict[str, Any], batch: int, threads: int,
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


# --------------------------------------------------------------------------------------------
# the whole run


def run_bench(bundle: str | Path, *, threads: int | None = None, batch: int = 64, n: int = 640, repeats: int = 30,
              onnx: bool = True, onnx_dir: str | Path | None = None, samples: Sequence[Any] | None = None,
              seed: int = 0, log: Callable[[str], None] | None = None,
              refine: dict[str, Any] | None = None, workers: int | None = None,
              tesseract: bool = False) -> dict[str, Any]:
    """Measure ``bundle`` (see the module docstring); returns the report as a JSON-able dict.

    ``threads`` sets torch's and onnxruntime's thread count for the run (default: torch's).
    ``onnx_dir`` reuses an existing export (``mstr export onnx --int8``); otherwise, with
    ``onnx=True`` and onnxruntime installed, the bundle is exported to a temporary folder.
    ``samples`` (:class:`mstr.eval.words.EvalSample`) are real crops: they replace the random
    inputs and add the real-crop tables. ``refine`` (``refine_policy``, ``refine_mode``,
    ``refine_below``; default: :func:`mstr.load`'s) sets how the Spotter + Refiner configurations
    refine; with a parallel mode, the torch pipelines are also timed decoding greedily. With real
    crops, ``workers`` (≥ 2) adds the whole pipeline read by that many processes sharing the threads
    (:mod:`mstr.reading.parallel`), and ``tesseract`` Tesseract on the same crops with as many processes as
    threads, each row then also given as a multiple of Tesseract's words/s.
    """
    if batch < 1 or n < 1 or repeats < 1:
        raise UserError("--batch, --n and --repeats must be at least 1")
    if workers:  # (0 or None: no parallel rows)
        from mstr.reading.parallel import check_workers

        check_workers(workers, "--workers")
    if (workers or tesseract) and not samples:
        raise UserError("--workers and --tesseract time real crops: give --lmdb or --manifest")
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run_bench(bundle, batch=batch, n=n, repeats=repeats, onnx=onnx, onnx_dir=onnx_dir,
                          samples=samples, seed=seed, log=log, refine=refine or {},
                          workers=workers if workers and workers > 1 else None, tesseract=tesseract)
    finally:
        torch.set_num_threads(before)


def _run_bench(bundle: str | Path, *, batch: int, n: int, repeats: int, onnx: bool, onnx_dir: str | Path | None,
               samples: Sequence[Any] | None, seed: int, log: Callable[[str], None] | None,
               refine: dict[str, Any], workers: int | None, tesseract: bool) -> dict[str, Any]:
    from mstr.api import load

    say = log or (lambda _msg: None)
    threads = torch.get_num_threads()
    rec = load(bundle, **({"refine_policy": refine["refine_policy"]} if "refine_policy" in refine else {}))
    if "refine_mode" in refine:
        rec.refine_mode = refine["refine_mode"]
    if refine.get("refine_below") is not None:
        rec.refine_below = refine["refine_below"]
    if "refine_ratio" in refine:
        rec.refine_ratio = refine["refine_ratio"]
    report: dict[str, Any] = {"bundle": str(bundle), "name": rec.name, "machine": machine_info(threads),
                              "settings": {"batch": batch, "n": n, "repeats": repeats, "seed": seed,
                                           "inputs": "random tensors in [-1, 1]"}}
    report["busy"] = busy_warning(report["machine"])
    if report["busy"]:
        say(report["busy"])
    say("counting parameters and FLOPs")
    report["model"] = model_info(rec)
    configs = _torch_configs(rec)
    tmp = None
    onnx_note = None
    if onnx:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            if onnx_dir is not None:
                raise UserError("--onnx needs onnxruntime: pip install 'mstr[onnx]'") from None
            onnx_note = "onnxruntime is not installed (pip install 'mstr[onnx]'): ONNX rows skipped"
        if onnx_note is None:
            if onnx_dir is None:
                from mstr.onnx.export import export_onnx

                tmp = tempfile.TemporaryDirectory(prefix="mstr-bench-onnx-")
                onnx_dir = Path(tmp.name)
                say("exporting to ONNX (fp32 + int8)")
                export_onnx(bundle, onnx_dir, int8=True)
            configs += _onnx_configs(Path(onnx_dir), threads, rec.refiner is not None,
                                     {"refine_policy": rec.refine_policy, "refine_mode": rec.refine_mode,
                                      "refine_below": rec.refine_below, "refine_ratio": rec.refine_ratio})
    else:
        onnx_note = "ONNX rows skipped (--no-onnx)"
    report["onnx_note"] = onnx_note
    try:
        h, w = rec.image_size
        crops = None
        if samples:
            from mstr.preprocess import preprocess

            say(f"decoding {len(samples)} real crops")
            crops = _load_crops(samples, (h, w))
            first = [crops["images"][i % len(crops["images"])] for i in range(batch)]
            xb = preprocess(first, (h, w))
            report["settings"]["inputs"] = (f"the first {min(batch, len(crops['images']))} of "
                                            f"{len(crops['images'])} real crops")
        else:
            xb = torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1
        x1 = xb[:1].clone()
        results = []
        for cfg in configs:
            say(f"timing {cfg.name}")
            results.append(_measure(cfg, x1, xb, n, repeats))
        by_name = {r["name"]: r for r in results}
        for cfg, r in zip(configs, results):
            ref = by_name.get(cfg.reference) if cfg.reference else None
            r["agreement"] = (100.0 * float(np.mean([a == b for a, b in zip(r["_texts"], ref["_texts"])]))
                              if ref is not None else None)
        for r in results:
            del r["_texts"]
        report["results"] = results
        if rec.refiner is not None:
            say("timing the Refiner against the number of decoding steps")
            onnx_full = {("onnx_" + c.precision): c.reader for c in configs if c.backend == "onnx" and c.refiner}
            report["refiner_steps"] = _steps_table(rec, onnx_full, x1, max(3, repeats // 3))
        if crops is not None:
            say(f"timing {len(crops['images'])} real crops")
            report["settings"]["real_crops"] = len(crops["images"])
            picked = [c for c in configs if c.name in (
                "spotter torch fp32", "spotter torch bf16", "spotter torch bf16 channels-last", "spotter onnx fp32",
                "spotter+refiner torch fp32", "spotter+refiner torch fp32 greedy",
                "spotter+refiner torch bf16 channels-last", "spotter+refiner torch bf16 channels-last greedy",
                "spotter+refiner onnx fp32")]
            report["real"] = _real(picked, crops, batch, repeats)
            extra = _parallel_and_tesseract(bundle, rec, crops, batch, threads, workers, tesseract, say)
            report["real"]["read"] += extra
            tess = [r for r in extra if r["name"].startswith("tesseract")]
            for r in report["real"]["read"]:
                r["x_tesseract"] = r["words_per_s"] / tess[0]["words_per_s"] if tess else None
    finally:
        if tmp is not None:
            tmp.cleanup()
    return report


# --------------------------------------------------------------------------------------------
# markdown


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_markdown(report: dict[str, Any]) -> str:
    m, model = report["machine"], report["model"]
    lines = [f"# mstr bench — {report['name']} ({report['bundle']})", "",
             "| machine | |", "|---|---|",
             f"| CPU | {m['cpu']} ({m['logical_cpus']} logical CPUs; flags: {', '.join(m['cpu_flags']) or '-'}) |",
             f"| threads | {m['threads']} |",
             f"| torch / onnxruntime | {m['torch']} / {m['onnxruntime'] or 'not installed'} |",
             f"| load average at start | {' '.join(map(str, m['loadavg_at_start'] or [])) or '-'} |", ""]
    if report.get("busy"):
        lines += [f"**{report['busy']}**", ""]
    p, f = model["params"], model["flops_per_word"]
    lines += ["| model | parameters | MFLOPs per word |", "|---|---:|---:|",
              f"| Spotter | {_fmt(p['spotter'])} | {f['spotter'] / 1e6:,.1f} |"]
    if p["refiner"]:
        steps = f"{f['refiner_steps_typical']} / {f['refiner_steps_max']} steps"
        for label, key in (("torch greedy", "refiner_torch"), ("cached step (ONNX graphs)", "refiner_cached")):
            lines.append(f"| Refiner, {label}, {steps} | {_fmt(p['refiner'])} | "
                         f"{f[key + '_typical'] / 1e6:,.1f} / {f[key + '_max'] / 1e6:,.1f} |")
    lines += [f"| bank ({p['bank_entries']} × {p['bank_dim']}, frozen) | {_fmt(p['bank'])} | - |", ""]
    s = report["settings"]
    lines += [f"Inputs: {s['inputs']}; latency = batch 1, median (p90) of {s['repeats']} calls; throughput = "
              f"batch {s['batch']}. Agreement = % of words read as the torch fp32 configuration of the same "
              "pipeline reads them" + (" (on random inputs every reading is a guess, so this understates the "
                                       "agreement on real crops)." if s["inputs"].startswith("random") else "."), "",
              f"| configuration | refine (policy/mode) | batch-1 latency ms | words/s at batch {s['batch']} | mean chars "
              "| agreement % |",
              "|---|---|---:|---:|---:|---:|"]
    for r in report["results"]:
        lines.append(f"| {r['name']} | {r.get('refine') or '-'} | {r['latency_ms']['median']:.2f} "
                     f"({r['latency_ms']['p90']:.2f}) | {r['throughput_wps']:,.0f} | {r['mean_chars']:.1f} | "
                     f"{_fmt(r['agreement'])} |")
    if report.get("onnx_note"):
        lines += ["", report["onnx_note"]]
    if report.get("refiner_steps"):
        keys = [k for k in report["refiner_steps"][0] if k.endswith("_ms")]
        lines += ["", "Refiner alone, batch 1, against the number of greedy decoding steps (label length + 1):", "",
                  "| steps | " + " | ".join(k[:-3].replace("_", " ") + " ms" for k in keys) + " |",
                  "|---:|" + "---:|" * len(keys)]
        for row in report["refiner_steps"]:
            lines.append(f"| {row['steps']} | " + " | ".join(f"{row[k]:.2f}" for k in keys) + " |")
    real = report.get("real")
    if real:
        lines += ["", f"Real crops ({real['images']}): decoding {real['decode_ms']:.2f} ms, preprocessing "
                      f"{real['preprocess_ms']:.2f} ms per image (median).", "",
                  "| configuration | read() words/s from decoded images | exact match % | ÷ Tesseract's words/s |",
                  "|---|---:|---:|---:|"]
        for r in real["read"]:
            x = r.get("x_tesseract")
            lines.append(f"| {r['name']} | {r['words_per_s']:,.0f} | {r['exact_match']:.1f} | "
                         f"{'-' if x is None else f'{x:.2f}×'} |")
        if real["by_length"]:
            names = [k for k in real["by_length"][0] if k not in ("length", "words")]
            lines += ["", "Batch-1 latency (ms, median) by label length:", "",
                      "| label length | words | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
            for row in real["by_length"]:
                lines.append(f"| {row['length']} | {row['words']} | " + " | ".join(
                    f"{row[k]:.2f}" if k in row else "-" for k in names) + " |")
    return "\n".join(lines) + "\n"

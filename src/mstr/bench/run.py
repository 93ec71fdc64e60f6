"""One ``mstr bench`` run: load the bundle, build the configurations (exporting to ONNX when asked),
time them on random tensors or real crops, and return the report as a JSON-able dict."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from mstr.bench.configs import measure, onnx_configs, steps_table, torch_configs
from mstr.bench.crops import load_crops, parallel_and_tesseract_rows, real_crops
from mstr.bench.machine import busy_warning, machine_info, model_info
from mstr.errors import UserError

__all__ = ["run_bench"]


def run_bench(bundle: str | Path, *, threads: int | None = None, batch: int = 64, n: int = 640, repeats: int = 30,
              onnx: bool = True, onnx_dir: str | Path | None = None, samples: Sequence[Any] | None = None,
              seed: int = 0, log: Callable[[str], None] | None = None,
              refine: dict[str, Any] | None = None, workers: int | None = None,
              tesseract: bool = False) -> dict[str, Any]:
    """Measure ``bundle`` (see the module docstring); returns the report as a JSON-able dict.

    ``threads`` sets torch's and onnxruntime's thread count for the run (default: torch's).
    ``onnx_dir`` reuses an existing export (``mstr export onnx --int8``); otherwise, with
    ``onnx=True`` and onnxruntime installed, the bundle is exported to a temporary folder.
    ``samples`` (:class:`mstr.eval.samples.EvalSample`) are real crops: they replace the random
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
    configs = torch_configs(rec)
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
                try:
                    export_onnx(bundle, onnx_dir, int8=True)
                except UserError as exc:  # a bundle the graphs cannot carry: the torch rows still run
                    onnx_note, onnx_dir = f"ONNX rows skipped: {exc}", None
        if onnx_note is None:
            configs += onnx_configs(Path(onnx_dir), threads, rec.refiner is not None,
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
            crops = load_crops(samples, (h, w))
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
            results.append(measure(cfg, x1, xb, n, repeats))
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
            report["refiner_steps"] = steps_table(rec, onnx_full, x1, max(3, repeats // 3))
        if crops is not None:
            say(f"timing {len(crops['images'])} real crops")
            report["settings"]["real_crops"] = len(crops["images"])
            picked = [c for c in configs if c.name in (
                "spotter torch fp32", "spotter torch bf16", "spotter torch bf16 channels-last", "spotter onnx fp32",
                "spotter+refiner torch fp32", "spotter+refiner torch fp32 greedy",
                "spotter+refiner torch bf16 channels-last", "spotter+refiner torch bf16 channels-last greedy",
                "spotter+refiner onnx fp32")]
            report["real"] = real_crops(picked, crops, batch, repeats)
            extra = parallel_and_tesseract_rows(bundle, rec, crops, batch, threads, workers, tesseract, say)
            report["real"]["read"] += extra
            tess = [r for r in extra if r["name"].startswith("tesseract")]
            for r in report["real"]["read"]:
                r["x_tesseract"] = r["words_per_s"] / tess[0]["words_per_s"] if tess else None
    finally:
        if tmp is not None:
            tmp.cleanup()
    return report

"""The reading configurations ``mstr bench`` times (torch fp32 / channels-last / bf16, onnxruntime
fp32 / int8; Spotter alone and Spotter + Refiner) and the timing of each: batch-1 latency,
throughput, and the Refiner's latency against the number of decoding steps."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

__all__ = ["Config", "torch_configs", "onnx_configs", "measure", "steps_table"]


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


def torch_configs(rec: Any) -> list[Config]:
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


def onnx_configs(folder: Path, threads: int, has_refiner: bool, refine: dict[str, Any]) -> list[Config]:
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


def measure(cfg: Config, x1: torch.Tensor, xb: torch.Tensor, n: int, repeats: int) -> dict[str, Any]:
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


def steps_table(rec: Any, onnx_full: Any, x1: torch.Tensor, repeats: int) -> list[dict[str, Any]]:
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

"""What ``mstr bench`` reports about the machine and the model: CPU, flags, versions, load; parameters
and FLOPs per word of the Spotter and the Refiner (one multiply-add = 2 FLOPs)."""
from __future__ import annotations

import copy
import os
import platform
from typing import Any, Callable

import torch

from mstr.precision import cpu_flags

__all__ = ["CPU_FLAGS", "machine_info", "busy_warning", "model_info"]

#: CPU flags reported (what decides bf16 / int8 speed on x86)
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")


def _cpu_model_and_flags() -> tuple[str, list[str]]:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                    break
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), cpu_flags(CPU_FLAGS)


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

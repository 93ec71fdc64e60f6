"""The markdown report of ``mstr bench`` (:func:`format_markdown` of :func:`mstr.bench.run_bench`'s dict)."""
from __future__ import annotations

from typing import Any

__all__ = ["format_markdown"]


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

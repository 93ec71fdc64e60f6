"""The ablation / A-B table from the folders tools/gpu/evaluate.sh fills (one per arm):
encoder, input size, parameters, steps, real English dev WRR (IIIT5K, ICDAR15), held-out-font
synthetic WRR per language, and the Spotter's words/s (its fastest torch configuration at batch 64,
from ``mstr bench``).

    python tools/gpu/ablation_table.py runs/ablation > docs/tables/ablation.md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

LANGS = ("en", "hi", "mr", "bn", "ta", "te", "ml", "kn")


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _wrr(report: dict | None, lang: str | None = None) -> str:
    if report is None:
        return "-"
    if lang is None:
        return f"{report['table']['combined']['wrr']:.2f}"
    rows = [r for r in report["table"]["rows"] if r["lang"] == lang]
    return f"{sum(r['wrr'] * r['n'] for r in rows) / sum(r['n'] for r in rows):.2f}" if rows else "-"


def row(arm: Path, tests: list[str]) -> list[str]:
    cfg = json.loads((arm / "bundle" / "config.json").read_text())
    sp, tr = cfg["spotter"], cfg["training"]["spotter"]
    ev = arm / "eval"
    bench = _load(ev / "bench.json")
    wps = "-"
    if bench:
        best = max((r["throughput_wps"] for r in bench["results"]), default=None)  # the fastest configuration
        wps = f"{best:,.0f}" if best else "-"
        params = f"{bench['model']['params']['spotter'] / 1e6:.2f} M"
    else:
        params = "-"
    init = tr["config"]["model"].get("encoder_init")
    enc = sp.get("encoder", "resnet") + (" (pretrained)" if init else "")
    sources = "+".join(s["name"] for s in tr["config"]["data"]["sources"])
    cells = [arm.name, enc, f"{sp['image_size'][0]}×{sp['image_size'][1]}", sources, params, str(tr["steps"]),
             _wrr(_load(ev / "iiit5k-dev" / "report.json")), _wrr(_load(ev / "icdar15-dev" / "report.json"))]
    for t in tests:
        rep = _load(ev / f"synth-{t}" / "report.json")
        cells += [_wrr(rep, lang) for lang in LANGS]
    return cells + [wps]


def main(argv: list[str]) -> int:
    root = Path(argv[0])
    arms = sorted(p for p in root.iterdir() if (p / "bundle" / "config.json").is_file())
    tests = sorted({p.name[len("synth-"):] for a in arms for p in (a / "eval").glob("synth-*")})
    head = ["arm", "encoder", "input", "data", "params", "steps", "IIIT5K dev", "IC15 dev"]
    head += [f"{t} {lang}" for t in tests for lang in LANGS] + ["Spotter words/s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * 6 + "---:|" * (len(head) - 6))
    for arm in arms:
        print("| " + " | ".join(row(arm, tests)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

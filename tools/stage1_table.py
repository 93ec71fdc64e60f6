"""Markdown ablation table from the `mstr eval mclip --out` reports of tools/stage1_ablation.sh.

    .venv/bin/python tools/stage1_table.py runs/stage1/infonce runs/stage1/arcface runs/stage1/subtype
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    runs = [Path(p) for p in sys.argv[1:]]
    reports = {r.name: json.loads((r / "eval" / "report.json").read_text()) for r in runs
               if (r / "eval" / "report.json").exists()}
    if not reports:
        sys.exit("no eval/report.json under the given run folders")
    scripts = [s["script"] for s in next(iter(reports.values()))["per_script"]]
    print("| variant | " + " | ".join(f"top-1 {s}" for s in scripts) + " | top-1 all | top-5 all | leakage | diacritic top-1 | diacritic→diacritic confusions |")
    print("|---|" + "---:|" * (len(scripts) + 5))
    for name, r in reports.items():
        per = {s["script"]: s for s in r["per_script"]}
        sub = {s["subtype"]: s for s in r["per_subtype"]} if isinstance(r["per_subtype"], list) else r["per_subtype"]
        nn = r["near_neighbour"]
        dd = nn.get("by_kind", {}).get("diacritic→diacritic", "-")
        cells = [f"{per[s]['top1']:.2f}" if s in per else "-" for s in scripts]
        o = r["overall"]
        dia = sub.get("diacritic", {}).get("top1") if isinstance(sub, dict) else None
        print(f"| {name} | " + " | ".join(cells) + f" | {o['top1']:.2f} | {o['top5']:.2f} | {o['leakage']:.2f} | "
              f"{dia:.2f} | {dd} |")


if __name__ == "__main__":
    main()

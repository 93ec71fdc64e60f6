"""Write a bundle's MODEL_CARD.md from its recipe run: data, fonts, steps, compute, measured tables.

    .venv/bin/python tools/model_card.py RECIPE BUNDLE [--targets targets.md] [key=value …]

RECIPE is the recipe the bundle came from (e.g. 6lang); its work folder holds the evaluation
reports (eval/<name>.md) that were written by the recipe's own eval steps, whose commands are
printed beside the tables. Nothing here is measured by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

from mstr.cli.recipe import _recipe_path
from mstr.recipe import load_recipe, plan


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _phases(training: dict) -> list[tuple[str, int]]:
    """(stage, steps) from the oldest phase to the newest, following 'previous' links."""
    out = []
    while training:
        for stage in ("refiner", "spotter"):
            if stage in training:
                out.append((stage, int(training[stage]["steps"])))
        training = training.get("previous") or {}
    return out[::-1]


def _params(bundle: Path) -> dict[str, int]:
    from safetensors import safe_open

    counts = {}
    for name in ("spotter", "refiner"):
        f = bundle / f"{name}.safetensors"
        if f.exists():
            with safe_open(str(f), "pt") as fh:
                counts[name] = sum(_prod(fh.get_slice(k).get_shape()) for k in fh.keys())
    return counts


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe")
    ap.add_argument("bundle", type=Path)
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--extra", type=Path, action="append", default=[],
                    help="markdown files appended as sections (targets, plan, scaling …)")
    a = ap.parse_args()

    r = load_recipe(_recipe_path(a.recipe), a.overrides)
    steps = plan(r)
    cfg = json.loads((a.bundle / "config.json").read_text(encoding="utf-8"))
    bank = json.loads((a.bundle / "bank" / "bank.json").read_text(encoding="utf-8"))
    size = sum(f.stat().st_size for f in a.bundle.rglob("*") if f.is_file())
    lines = [f"# Model card: {cfg['name']}", "",
             f"Languages: {', '.join(cfg['langs'])}. One Spotter + Refiner over one frozen character bank of "
             f"{len(bank['entries'])} rows (dimension {bank['dim']}); bundle size {size / 1e6:.1f} MB. "
             f"Bank fingerprint `{cfg['bank_fingerprint'][:16]}…`.", ""]
    p = _params(a.bundle)
    lines += ["## Model", "", "| part | parameters |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in p.items()]
    lines += [f"| bank (frozen, not trained in Stage 2) | {len(bank['entries']) * bank['dim']:,} |", ""]
    lines += ["## Training", "", f"Recipe: `mstr recipe run {a.recipe}` "
              f"(src/mstr/configs/recipes/{Path(str(_recipe_path(a.recipe))).name}); every step below is an "
              "ordinary command, run in this order; a step marked skipped did not run.", "", "```"]
    for s in steps:
        if s.name.startswith("eval"):
            continue
        lines.append(f"# skipped: {s.skip_reason}\n# {s.shell()}" if s.skip_reason else s.shell())
    lines += ["```", "", "Phases recorded in the bundle (stage, optimiser steps, batch 64): " +
              ", ".join(f"{st} {n}" for st, n in _phases(cfg.get("training", {}))) + ".", ""]
    lines += ["Data: synthetic words rendered by `mstr synth` with the *training* fonts of each script "
              "(word lists and fonts: docs/data.md), real English crops from the IIIT5K train split "
              "(fine-tune part, 1,588 crops; configs/splits/iiit5k_train). Test words use held-out font "
              "designs never seen in training (`mstr synth fonts --langs 6lang` prints the split).", ""]
    lines += ["## Compute", "", f"CPU only: {_cpu()}, {os.cpu_count()} cores, bf16 autocast, torch "
              f"{cfg.get('versions', {}).get('torch', '?')}. No GPU was available for this model.", ""]
    lines += ["## Measured results", ""]
    for s in steps:
        if not s.name.startswith("eval") or s.stdout is None:
            continue
        if s.skip_reason or not s.stdout.exists():
            lines += [f"### {s.name[5:]}", "", f"not measured ({s.skip_reason or 'no report'})", ""]
            continue
        lines += [f"### {s.name[5:]}", "", "```", s.shell(), "```", "", s.stdout.read_text(encoding="utf-8").strip(), ""]
    for extra in a.extra:
        lines += [extra.read_text(encoding="utf-8").strip(), ""]
    (a.bundle / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {a.bundle / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()

"""``mstr train``: the training stages, each from a YAML config plus key=value overrides."""
from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

STAGES = {
    "mclip": "Stage 1: the mCLIP character dual encoder (character crops from 'mstr synth chars')",
    "spotter": "Stage 2a: the Sequence Spotter on word images, bank frozen (bank=… or init_bundle=…)",
    "refiner": "Stage 2b: the Refiner behind a frozen Spotter bundle (init_bundle=…)",
    "crnn": "Baseline: CRNN-CTC on the Spotter's data and label space (bank=… or init_bundle=…)",
    "softmax": "Ablation: the Spotter with a linear softmax head instead of bank retrieval (bank=…)",
}


def _default_config(stage: str) -> Path:
    return Path(str(resources.files("mstr") / "configs" / "train" / f"{stage}.yaml"))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a stage (mclip, …) from a YAML config",
                       description="Train one stage. Options come from a YAML config (default: the shipped "
                                   "configs/train/<stage>.yaml) and key=value overrides, e.g. "
                                   "'mstr train mclip optim.max_steps=2000 loss.arcface=0.5 out=runs/m1'.")
    ss = p.add_subparsers(dest="stage", metavar="STAGE")
    ss.required = True
    for stage, help_text in STAGES.items():
        s = ss.add_parser(stage, help=help_text, description=help_text)
        s.add_argument("--config", type=Path, default=None,
                       help=f"YAML config (default: the shipped configs/train/{stage}.yaml)")
        s.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, dotted keys")
        s.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
        s.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import logging

    from mstr.config import load_config

    cfg = load_config(args.config or _default_config(args.stage), args.overrides)
    if args.print_config:
        print(json.dumps(cfg, indent=2))
        return 0
    _check_overrides(args.stage, cfg, args.overrides)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    with _run_lock(cfg):
        return _train(args.stage, cfg)


def _check_overrides(stage: str, cfg: dict, overrides: list[str]) -> None:
    """Settings the run would ignore are refused: with ``init_bundle=`` the Spotter's architecture
    is the bundle's, so ``model.*`` overrides cannot apply."""
    from mstr.errors import UserError

    clash = [o for o in overrides if o.split("=", 1)[0].startswith("model.")]
    if stage == "spotter" and cfg.get("init_bundle") and clash:
        raise UserError(f"{', '.join(clash)}: with init_bundle= the architecture comes from the bundle "
                        f"({cfg['init_bundle']}), so this would be ignored; drop it, or train from a bank (bank=…) "
                        "to change the architecture")


def _run_lock(cfg: dict):
    """An exclusive lock on the run's ``out`` folder (in the launching process only: the other ranks
    of a multi-process run share it): a second training into the same folder stops at once."""
    import contextlib
    import os

    from mstr.atomic import output_lock

    if not cfg.get("out") or os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0":
        return contextlib.nullcontext()
    return output_lock(Path(cfg["out"]), "training run")


def _train(stage: str, cfg: dict) -> int:
    if stage == "mclip":
        from mstr.train.mclip_task import train_mclip

        out = train_mclip(cfg)
        print(f"wrote {out / 'mclip.safetensors'} and {out / 'mclip.json'}")
    elif stage == "spotter":
        from mstr.train.spotter_task import train_spotter

        print(f"wrote {train_spotter(cfg)}")
    elif stage == "refiner":
        from mstr.train.refiner_task import train_refiner

        print(f"wrote {train_refiner(cfg)}")
    elif stage in ("crnn", "softmax"):
        from mstr.train.baselines_task import train_baseline

        print(f"wrote {train_baseline(stage, cfg)}")
    return 0

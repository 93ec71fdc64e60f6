"""Optimiser helpers shared by the training tasks."""
from __future__ import annotations

import math

import torch

__all__ = ["warmup_cosine", "adamw_warmup_cosine"]


def warmup_cosine(opt: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def adamw_warmup_cosine(params, optim_cfg: dict) -> dict:
    """Lightning's ``configure_optimizers`` answer for an ``optim`` config section: AdamW
    (``lr``, ``weight_decay``) with :func:`warmup_cosine` (``warmup_steps``, ``max_steps``), stepped
    every optimiser step."""
    o = optim_cfg
    opt = torch.optim.AdamW(params, lr=o["lr"], weight_decay=o["weight_decay"])
    sched = warmup_cosine(opt, int(o["warmup_steps"]), int(o["max_steps"]))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

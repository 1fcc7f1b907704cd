"""Optimizers and learning-rate schedules named in recipes."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from crackscope.training.options import OPTIMIZERS, SCHEDULERS


def make_optimizer(
    model: nn.Module, *, name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD with momentum over the trainable parameters."""
    if lr <= 0:
        raise ValueError(f"learning rate must be positive, got {lr}")
    if weight_decay < 0:
        raise ValueError(f"weight decay must not be negative, got {weight_decay}")
    params = [p for p in model.parameters() if p.requires_grad]
    name = name.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    name: str,
    total_steps: int,
    warmup_steps: int = 0,
    time_progress: Callable[[], float] | None = None,
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """``cosine``: linear warm-up then cosine decay to zero over ``total_steps`` (stepped per batch).

    With ``time_progress`` (the used fraction of a training-time budget, 0..1) the decay follows
    whichever is further along, steps or time, so a run cut by its time limit still ends annealed.
    """
    if name in (None, "none"):
        return None
    if name != "cosine":
        raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")
    total = max(1, int(total_steps))
    warm = max(0, min(int(warmup_steps), total - 1))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        if time_progress is not None:
            progress = max(progress, time_progress())
        progress = min(1.0, progress)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

"""Learning-rate schedule: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math


def learning_rate(step: int, base_lr: float, warmup_steps: int, total_steps: int | None,
                  schedule: str = "cosine", min_lr_ratio: float = 0.05) -> float:
    """Learning rate for 0-based ``step``; ``total_steps`` None means no decay yet known."""
    if warmup_steps and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "constant" or not total_steps:
        return base_lr
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    # cosine annealing: Loshchilov & Hutter 2017 (SGDR), without restarts
    return base_lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))

"""The options every task's training config shares, and their checks, written once.

A task's config dataclass subclasses :class:`BaseTrainConfig`, adds its own fields
(data, model, tokenizer...), may give a shared field another default (the LM's ``lr``
follows the data), and extends :meth:`BaseTrainConfig.validate` and
``resumable``. The loop reads only the fields defined here.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ConfigError

# Options that may change when a run is resumed: they bound the run, not its maths.
RESUMABLE = frozenset({"max_steps", "epochs", "time_budget", "patience", "eval_every", "keep_last", "device",
                       "log_every"})


@dataclass
class BaseTrainConfig:
    """The loop's options: optimisation, schedule, stopping, evaluation cadence, hardware."""

    resumable: ClassVar[frozenset[str]] = RESUMABLE

    lr: float | None = 2e-3
    weight_decay: float | None = 0.01
    adam_beta2: float = 0.99
    clip: float = 1.0
    warmup_steps: int | None = None
    schedule: str = "cosine"
    min_lr_ratio: float | None = 0.1
    ema: float | None = None  # decay of an exponential moving average of the weights (None or 0: off)
    max_steps: int | None = None
    epochs: float | None = None
    time_budget: float | None = None
    eval_every: int | None = None
    patience: int | None = None
    seed: int = 1337
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False  # torch.compile the model; falls back to eager where it cannot
    log_every: int = 10
    keep_last: int = 2

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check the shared options; a subclass calls this and then checks its own."""
        need(self.lr is None or (math.isfinite(self.lr) and self.lr > 0), f"lr must be positive, got {self.lr}")
        need(0.0 <= self.adam_beta2 < 1.0, f"adam_beta2 must be in [0, 1), got {self.adam_beta2}")
        need(self.weight_decay is None or self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        need(self.clip >= 0, f"clip must be >= 0 (0 disables clipping), got {self.clip}")
        need(self.warmup_steps is None or self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        need(self.min_lr_ratio is None or 0.0 <= self.min_lr_ratio <= 1.0,
             f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        need(self.schedule in ("cosine", "constant"), f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        need(self.ema is None or 0.0 <= self.ema < 1.0, f"ema must be in [0, 1) (0 turns it off), got {self.ema}")
        need(self.max_steps is None or self.max_steps >= 1, f"max_steps must be at least 1, got {self.max_steps}")
        need(self.epochs is None or self.epochs > 0, f"epochs must be positive, got {self.epochs}")
        need(self.time_budget is None or self.time_budget > 0, f"time_budget must be positive, got {self.time_budget}")
        need(self.eval_every is None or self.eval_every >= 1, f"eval_every must be at least 1, got {self.eval_every}")
        need(self.patience is None or self.patience >= 1, f"patience must be at least 1, got {self.patience}")
        need(self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}")
        need(self.keep_last >= 1, f"keep_last must be at least 1, got {self.keep_last}")
        need(self.device in ("auto", "cpu", "cuda", "mps") or self.device.startswith("cuda:"),
             f"device must be auto, cpu, cuda or mps, got {self.device!r}")
        need(self.precision in ("auto", "fp32", "bf16", "fp16"),
             f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        return config_from_dict(cls, data)

    def resume_differences(self, saved) -> list[str]:
        """Options that differ from the saved run and may not change on resume.

        An option left unset (None) takes the saved run's value, so it is no change.
        """
        mine, theirs = self.to_dict(), saved.to_dict()
        return sorted(k for k in mine if k not in self.resumable and differs_from_saved(mine[k], theirs[k]))


def need(condition: bool, message: str) -> None:
    """Raise ConfigError(message) unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def differs_from_saved(given: Any, saved: Any) -> bool:
    """An option given now differs from the saved one; unset options (None, empty, "auto")
    never do, and option tables compare only the keys given."""
    if given is None or given == [] or given == {} or given == "auto":
        return False
    if isinstance(given, dict) and isinstance(saved, dict):
        return any(k not in saved or saved[k] != v for k, v in given.items())
    return given != saved


def config_from_dict(cls, data: dict[str, Any]):
    """Build a config dataclass, naming unknown keys and their nearest valid match."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        hints = [f"{k!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, names, 1)) else "")
                 for k in unknown]
        raise ConfigError(f"unknown config key {', '.join(hints)}")
    return cls(**data)

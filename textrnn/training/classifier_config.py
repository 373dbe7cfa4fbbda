"""The resolved configuration of a classifier training run, stored as ``config.json``."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .config import config_from_dict, differs_from_saved

# Options that may change when a run is resumed: they bound the run, not its maths.
RESUMABLE_CHANGES = {"max_steps", "epochs", "time_budget", "patience", "eval_every", "keep_last", "device",
                     "log_every", "threads"}
MONITORS = ("accuracy", "loss")


@dataclass
class ClassifierConfig:
    """Everything that defines a classifier training run.

    Options that are None follow the data: they are chosen when the run starts
    (:mod:`textrnn.training.classifier_defaults`) and stored resolved in ``config.json``.
    With ``init_from``, ``model`` and ``tokenizer`` follow the language-model run.
    """

    model: str | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    tokenizer: str | None = None
    tokenizer_options: dict[str, Any] = field(default_factory=dict)
    data: str | None = None
    valid: str | None = None
    valid_fraction: float = 0.1
    text_field: str = "text"
    label_field: str = "label"
    encoding_errors: str = "strict"
    max_length: int = 1000
    init_from: str | None = None
    gradual_unfreeze: bool = False
    discriminative_lr: bool = False
    lr_decay_per_layer: float = 2.6
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    clip: float = 1.0
    warmup_steps: int | None = None
    schedule: str = "cosine"
    min_lr_ratio: float = 0.05
    token_dropout: float | None = None
    ema: float | None = None
    adversarial: float = 0.0
    class_weights: bool = False
    max_steps: int | None = None
    epochs: float | None = None
    time_budget: float | None = None
    eval_every: int | None = None
    monitor: str = "accuracy"
    patience: int | None = None
    seed: int = 1337
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    log_every: int = 10
    keep_last: int = 2

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def need(cond: bool, message: str) -> None:
            if not cond:
                raise ConfigError(message)

        need(math.isfinite(self.lr) and self.lr > 0, f"lr must be positive, got {self.lr}")
        need(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        need(self.max_length >= 1, f"max_length must be at least 1, got {self.max_length}")
        need(0.0 <= self.valid_fraction < 1.0, f"valid_fraction must be in [0, 1), got {self.valid_fraction}")
        need(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        need(self.clip >= 0, f"clip must be >= 0 (0 disables clipping), got {self.clip}")
        need(self.warmup_steps is None or self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        need(0.0 <= self.min_lr_ratio <= 1.0, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        need(self.token_dropout is None or 0.0 <= self.token_dropout < 1.0, f"token_dropout must be in [0, 1), got {self.token_dropout}")
        need(math.isfinite(self.adversarial) and self.adversarial >= 0,
             f"adversarial must be >= 0 (0 turns it off), got {self.adversarial}")
        need(self.ema is None or 0.0 <= self.ema < 1.0, f"ema must be in [0, 1) (0 turns it off), got {self.ema}")
        need(self.lr_decay_per_layer >= 1.0, f"lr_decay_per_layer must be >= 1, got {self.lr_decay_per_layer}")
        need(self.schedule in ("cosine", "constant"), f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        need(self.monitor in MONITORS, f"monitor must be 'accuracy' or 'loss', got {self.monitor!r}")
        need(self.encoding_errors in ("strict", "replace"),
             f"encoding_errors must be 'strict' or 'replace', got {self.encoding_errors!r}")
        need(self.max_steps is None or self.max_steps >= 1, f"max_steps must be at least 1, got {self.max_steps}")
        need(self.epochs is None or self.epochs > 0, f"epochs must be positive, got {self.epochs}")
        need(self.time_budget is None or self.time_budget > 0, f"time_budget must be positive, got {self.time_budget}")
        need(self.eval_every is None or self.eval_every >= 1, f"eval_every must be at least 1, got {self.eval_every}")
        need(self.patience is None or self.patience >= 1, f"patience must be at least 1, got {self.patience}")
        need(self.threads is None or self.threads >= 1, f"threads must be at least 1, got {self.threads}")
        need(self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}")
        need(self.keep_last >= 1, f"keep_last must be at least 1, got {self.keep_last}")
        need(bool(self.text_field) and bool(self.label_field), "text_field and label_field must not be empty")
        need(self.device in ("auto", "cpu", "cuda", "mps") or self.device.startswith("cuda:"),
             f"device must be auto, cpu, cuda or mps, got {self.device!r}")
        need(self.precision in ("auto", "fp32", "bf16", "fp16"),
             f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")
        if self.valid is None:
            need(self.valid_fraction > 0, "valid_fraction must be > 0 when no validation data is given")
        if self.init_from is not None:
            need(not self.tokenizer_options,
                 "the tokenizer comes from the language-model run given to init_from; tokenizer options cannot be set")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ClassifierConfig":
        return config_from_dict(cls, data)

    def resume_differences(self, saved: "ClassifierConfig") -> list[str]:
        """Options that differ from the saved run and may not change on resume.

        An option left unset (None) takes the saved run's value, so it is no change.
        """
        mine, theirs = self.to_dict(), saved.to_dict()
        return sorted(k for k in mine if k not in RESUMABLE_CHANGES and differs_from_saved(mine[k], theirs[k]))

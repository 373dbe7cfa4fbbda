"""The resolved configuration of a classifier training run, stored as ``config.json``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .config_base import RESUMABLE, BaseTrainConfig, need

# Options that may change when a run is resumed: they bound the run, not its maths.
RESUMABLE_CHANGES = RESUMABLE | {"threads"}
MONITORS = ("accuracy", "loss")


@dataclass
class ClassifierConfig(BaseTrainConfig):
    """Everything that defines a classifier training run.

    Options that are None follow the data: they are chosen when the run starts
    (:mod:`textrnn.training.classifier_defaults`) and stored resolved in ``config.json``.
    With ``init_from``, ``model`` and ``tokenizer`` follow the language-model run.
    """

    resumable: ClassVar[frozenset[str]] = frozenset(RESUMABLE_CHANGES)

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
    min_lr_ratio: float = 0.05
    token_dropout: float | None = None
    adversarial: float = 0.0
    class_weights: bool = False
    monitor: str = "accuracy"
    threads: int | None = None

    def validate(self) -> None:
        super().validate()
        need(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        need(self.max_length >= 1, f"max_length must be at least 1, got {self.max_length}")
        need(0.0 <= self.valid_fraction < 1.0, f"valid_fraction must be in [0, 1), got {self.valid_fraction}")
        need(self.token_dropout is None or 0.0 <= self.token_dropout < 1.0, f"token_dropout must be in [0, 1), got {self.token_dropout}")
        need(math.isfinite(self.adversarial) and self.adversarial >= 0,
             f"adversarial must be >= 0 (0 turns it off), got {self.adversarial}")
        need(self.lr_decay_per_layer >= 1.0, f"lr_decay_per_layer must be >= 1, got {self.lr_decay_per_layer}")
        need(self.monitor in MONITORS, f"monitor must be 'accuracy' or 'loss', got {self.monitor!r}")
        need(self.encoding_errors in ("strict", "replace"),
             f"encoding_errors must be 'strict' or 'replace', got {self.encoding_errors!r}")
        need(self.threads is None or self.threads >= 1, f"threads must be at least 1, got {self.threads}")
        need(bool(self.text_field) and bool(self.label_field), "text_field and label_field must not be empty")
        if self.valid is None:
            need(self.valid_fraction > 0, "valid_fraction must be > 0 when no validation data is given")
        if self.init_from is not None:
            need(not self.tokenizer_options,
                 "the tokenizer comes from the language-model run given to init_from; tokenizer options cannot be set")

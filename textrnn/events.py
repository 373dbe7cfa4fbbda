"""Events the trainer emits; the CLI renders them and plugins observe them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainingEvent:
    """One thing that happened during training.

    ``kind`` is one of ``start``, ``step``, ``eval``, ``checkpoint``, ``end``,
    ``message``. ``metrics`` holds numbers (loss, lr, tokens_per_s, ...) and, for
    ``start`` and ``message``, descriptive strings.
    """

    kind: str
    step: int
    metrics: dict[str, Any] = field(default_factory=dict)

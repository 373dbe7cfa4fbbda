"""The median stopping rule: stop a trial that is doing worse than most trials did by the same step.

A trial's *history* is its list of ``(step, value)`` validation evaluations. At each
new evaluation the trial's best value so far is compared with the median of the other
trials' best values up to that step (Golovin et al. 2017, "Google Vizier", the median
stopping rule; Optuna's MedianPruner is the same rule). A trial is only judged after
``warmup`` evaluations, and only once ``min_trials`` other trials have reached the step,
so early noise and a thin field never stop anything.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Iterable, Sequence

MIN_TRIALS = 2

History = Sequence[Sequence[float]]  # [(step, value), ...] in step order


@dataclass(frozen=True)
class Verdict:
    """The rule's answer; true when the trial should stop. ``value`` and ``median`` say why."""

    prune: bool
    step: float = 0
    value: float | None = None
    median: float | None = None
    trials: int = 0

    def __bool__(self) -> bool:
        return self.prune


def best_so_far(history: History, minimize: bool, up_to: float = math.inf) -> float | None:
    """The best finite value among evaluations at or before step ``up_to``; None if there is none."""
    values = [v for s, v in history if s <= up_to and v is not None and math.isfinite(v)]
    if not values:
        return None
    return min(values) if minimize else max(values)


def should_prune(history: History, others: Iterable[History], *, minimize: bool, warmup: int,
                 min_trials: int = MIN_TRIALS) -> Verdict:
    """Whether the trial with ``history`` (ending at its newest evaluation) falls below the median.

    :param others: the other trials' histories. One counts at step S once it has
        evaluated at S or later (steps need not line up: a trial whose evaluations fall
        between counts with its best value up to S).
    :param warmup: evaluations a trial always gets before it can be stopped.
    """
    if len(history) <= warmup:
        return Verdict(False)
    step = history[-1][0]
    mine = best_so_far(history, minimize)
    if mine is None:
        return Verdict(False)  # NaN or nothing yet: the trainer reports divergence itself
    field = []
    for other in others:
        if not other or other[-1][0] < step:
            continue
        value = best_so_far(other, minimize, up_to=step)
        if value is not None:
            field.append(value)
    if len(field) < min_trials:
        return Verdict(False, step, mine, None, len(field))
    median = statistics.median(field)
    return Verdict(mine > median if minimize else mine < median, step, mine, median, len(field))

"""When the loop evaluates, and how it logs the training loss without stalling a GPU."""

from __future__ import annotations

from typing import Callable

import torch

EVAL_EVERY = 250  # steps between evaluations, when neither the user nor the task says
EVALS_PER_BUDGET = 4  # under --time-budget alone: evaluate at each quarter of it, and at the end


class EvalCadence:
    """When to evaluate: every ``eval_every`` steps (the task's default when unset), or,
    when only a time budget bounds the run, at each :data:`EVALS_PER_BUDGET`-th of it, so that evaluation costs a bounded
    share of the budget however fast the steps are. Under DDP the budget rule is off
    (``budget=None``): ranks must agree on the step, and clocks differ."""

    def __init__(self, eval_every: int | None, budget: float | None, default_every: int = EVAL_EVERY):
        self.every = eval_every or (None if budget else default_every)
        self.interval = budget / EVALS_PER_BUDGET if self.every is None else None
        self.mark = 0

    def due(self, step: int, elapsed: float) -> bool:
        if self.every is not None:
            return step % self.every == 0
        mark = int(elapsed / self.interval)
        if mark > self.mark:
            self.mark = mark
            return True
        return False


class DeferredLog:
    """Training-loss records that, on CUDA, are read one logging interval late.

    Reading a loss (``.item()``) waits for every kernel queued so far. Done at every log
    step it would drain the GPU's queue each ``log_every`` steps, which a bare loop never
    does. On CUDA the interval's mean is copied to pinned host memory without blocking and
    an event marks the copy; the record is written at the next log point, or when an
    evaluation or a save flushes it, waiting on that event alone, which by then has long
    passed. On the CPU there is no queue to drain, so records are written at once.
    """

    def __init__(self, defer: bool, write: Callable[[int, float, dict], None]):
        self.defer = defer
        self.write = write
        self.pending: tuple[int, torch.Tensor, "torch.cuda.Event | None", dict] | None = None

    def add(self, step: int, mean_loss: torch.Tensor, **fields) -> None:
        self.flush()
        event = None
        if self.defer and mean_loss.is_cuda:
            host = torch.empty((), dtype=mean_loss.dtype, pin_memory=True)
            host.copy_(mean_loss, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            mean_loss = host
        self.pending = (step, mean_loss, event, fields)
        if not self.defer:
            self.flush()

    def flush(self) -> None:
        if self.pending is not None:
            step, mean_loss, event, fields = self.pending
            self.pending = None
            if event is not None:
                event.synchronize()  # waits for this copy only, not for the kernels queued since
            self.write(step, mean_loss.item(), fields)

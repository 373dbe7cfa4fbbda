"""What a task plugin gives the one training loop (:mod:`textrnn.training.loop`).

A task (``lm``, ``classifier``, a third party's ``forecast``) registers through the
``register_tasks`` hook. The loop owns everything that is not task-specific: the run
directory, resume checks, the step/epoch/time-budget plan, precision and autocast, DDP,
clipping, EMA, evaluation cadence, patience and best tracking, checkpoints, signals and
the summary. A task supplies only what differs, as methods of a :class:`Task` subclass:

========================  ===================================================================
``prepare(ctx)``          read and check the data, build tokenizer and model (no run-dir writes)
``steps_per_epoch()``     optimizer steps in one pass over the training data (this rank's share)
``next_batch(step)``      the batch of global step ``step``; a pure function of (seed, step)
                          or of state the task checkpoints itself
``loss(model, batch)``    the training loss (a scalar tensor), computed inside autocast
``evaluate(model, step)`` validation metrics: a dict with ``valid_loss`` and the task's own
``improved(new, best)``   whether ``new`` (an evaluate() dict) beats ``best`` (None at first)
``checkpoint_state()``    extra tensors and JSON meta to save; ``restore_state`` reads them
========================  ===================================================================

Every method has a default where one makes sense, so a small task writes only
``prepare``, ``next_batch``, ``loss`` and ``evaluate``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch

    from ..distributed import DistInfo


@dataclass
class RunContext:
    """What the loop tells a task about the run it is part of."""

    run_dir: Path
    resuming: bool  # the run directory holds a run being resumed: read its stored tokenizer, labels...
    dist: "DistInfo"
    device: "torch.device"
    message: Callable[..., None]  # message(text, step=0): a progress line for the user
    stored_meta: dict[str, Any] = field(default_factory=dict)  # run.json of a resumed run, else {}


class Task:
    """Base class of every task: the callbacks the training loop calls, with defaults.

    Subclasses set ``name`` and, in :meth:`prepare`, the attributes below.

    :ivar config: the task's config dataclass; :meth:`prepare` may replace it by one with
        the data-driven defaults resolved (it is stored as ``config.json``).
    :ivar model: the ``torch.nn.Module`` to train (on the CPU; the loop moves it).
    :ivar tokenizer: a :class:`textrnn.tokenizers.Tokenizer` saved into the run, or None.
    :ivar run_fields: extra keys for ``run.json`` (model name and options, data sources...).
    """

    name = "task"
    autocast_dtype = None  # set by the loop before the first step: autocast's dtype, or None (fp32)
    monitor = "valid_loss"  # the evaluate() key shown as the best metric
    monitor_mode = "min"  # "min" or "max"

    def __init__(self, config):
        self.config = config
        self.model = None
        self.tokenizer = None
        self.run_fields: dict[str, Any] = {}

    # -- setup ----------------------------------------------------------------
    def prepare(self, ctx: RunContext) -> None:
        """Read and check the data, then build ``self.tokenizer`` and ``self.model``.

        Runs before the run directory is written, so bad data never costs the user a run
        deleted by ``--overwrite``. On resume (``ctx.resuming``) reuse what the run stored.
        Seed the model's initialisation from ``config.seed`` (the loop seeds torch first).
        """
        raise NotImplementedError

    def steps_per_epoch(self) -> int:
        """Optimizer steps in one pass over the training data."""
        raise NotImplementedError

    def start_fields(self) -> dict[str, Any]:
        """Extra fields of the ``start`` event (data sizes, labels...)."""
        return {}

    def optimizer(self, model, device) -> "torch.optim.Optimizer":
        """AdamW over every parameter; param groups may carry an ``lr_scale`` (default 1)."""
        import torch

        cfg = self.config
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                 betas=(0.9, getattr(cfg, "adam_beta2", 0.99)), fused=device.type == "cuda" or None)

    def default_eval_every(self) -> int:
        """Steps between evaluations when neither ``eval_every`` nor a time budget says."""
        return self.steps_per_epoch()

    # -- each step ------------------------------------------------------------
    def on_epoch(self, epoch: int, step: int) -> None:
        """Called when step ``step`` starts epoch ``epoch`` (and at a resume): e.g. unfreezing."""

    def next_batch(self, step: int):
        """The batch of global step ``step``, on the device. It may carry ``lr_scale``
        (a float multiplying this step's learning rate) and ``units`` (tokens or rows in
        it, for the throughput line)."""
        raise NotImplementedError

    def loss(self, model, batch) -> "torch.Tensor | tuple[torch.Tensor, torch.Tensor]":
        """The scalar training loss of ``batch``; ``model`` may be wrapped in DDP.

        Return ``(objective, reported)`` where the optimised objective adds a penalty
        that the logged loss should not show."""
        raise NotImplementedError

    def after_backward(self, model, batch, scaler) -> None:
        """After the loss's backward pass: add extra gradient (adversarial training...).
        ``scaler.scale(extra).backward()`` back-propagates a further loss (``scaler`` is
        the run's ``torch.amp.GradScaler``, a no-op outside fp16)."""

    def batch_units(self, batch) -> dict[str, int]:
        """What ``batch`` holds, for the throughput line: ``{"tokens": n}`` gives ``tokens_per_s``."""
        return {}

    def after_step(self) -> None:
        """After the optimizer step (detach carried state...)."""

    # -- evaluation -----------------------------------------------------------
    def evaluate(self, model, step: int) -> dict[str, float]:
        """Validation metrics of ``model`` (the EMA weights where the run keeps them):
        a dict of floats with at least ``valid_loss``."""
        raise NotImplementedError

    def improved(self, new: dict[str, float], best: dict[str, float] | None) -> bool:
        """Whether evaluation ``new`` beats ``best``; by :attr:`monitor` and :attr:`monitor_mode`."""
        if best is None or self.monitor not in best:
            return math.isfinite(new[self.monitor])
        if self.monitor_mode == "max":
            return new[self.monitor] > best[self.monitor]
        return new[self.monitor] < best[self.monitor]

    def diverged(self, loss: float) -> bool:
        """A training or validation loss that means the run has blown up."""
        return not math.isfinite(loss)

    # -- checkpoints ----------------------------------------------------------
    def checkpoint_state(self) -> tuple[dict[str, "torch.Tensor"], dict[str, Any]]:
        """Extra tensors (saved as ``train_state.safetensors``) and JSON meta of this step.
        Under DDP every rank calls this; gather per-rank state here. Rank 0's result is saved."""
        return {}, {}

    def restore_state(self, tensors: dict[str, "torch.Tensor"], meta: dict[str, Any], step: int) -> None:
        """Put back what :meth:`checkpoint_state` saved, when resuming at ``step``."""

    def position(self, step: int) -> str:
        """Where ``step`` is in the data, for the resume message: ``", epoch 1, batch 6"``."""
        return ""

    def summary(self, best: dict[str, float] | None, step: int) -> dict[str, Any]:
        """Task fields of the final summary, from the best evaluation (with its ``step``)
        and the last step."""
        return {f"best_{k}": v for k, v in (best or {}).items() if k != "time"}

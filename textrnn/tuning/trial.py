"""One trial, run inside its own process: an ordinary training run in the trial's directory.

``textrnn tune`` starts ``textrnn tune-trial SPEC`` for each trial. The spec is a JSON
file holding the task, the full config dict, the run directory and a CPU thread count.
A trial directory that already holds a checkpoint (its tune was killed) is resumed;
one without is started over.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError
from ..events import TrainingEvent
from ..training import run_dir as rd
from .space import config_class


def read_spec(path: str | Path) -> dict[str, Any]:
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read trial spec {path}: {exc}") from None
    missing = {"task", "config", "run_dir"} - set(spec)
    if missing:
        raise ConfigError(f"trial spec {path} lacks {', '.join(sorted(missing))}")
    return spec


def run_trial(spec: dict[str, Any], *, on_event: Callable[[TrainingEvent], None] | None = None,
              stop_requested: Callable[[], int | None] | None = None) -> dict:
    """Train the trial described by ``spec`` and return the trainer's summary.

    :param stop_requested: passed to the trainer: a signal number makes it save a
        checkpoint and raise TrainingInterrupted, which is how a pruned trial stops.
    """
    task = spec["task"]
    run_dir = Path(spec["run_dir"])
    config = config_class(task).from_dict(spec["config"])
    threads = spec.get("threads")
    if threads:
        import torch

        torch.set_num_threads(int(threads))  # trials that share the CPU each get their slice of it
    checkpoints = run_dir / "checkpoints"
    resume = rd.is_run(run_dir) and checkpoints.is_dir() and any(checkpoints.glob("step-*"))
    overwrite = not resume and run_dir.exists()  # a start that died before its first checkpoint
    from ..training.loop import train

    return train(task, config, run_dir, resume=resume, overwrite=overwrite, on_event=on_event,
                 stop_requested=stop_requested)

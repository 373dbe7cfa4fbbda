"""TensorBoard logging as a listener on training events, outside the training loop.

``TensorBoardLogger(run_dir)`` is called with every :class:`~textrnn.events.TrainingEvent`
and writes its numbers as scalars to ``RUN/tensorboard``: ``train/loss``, ``train/lr``,
``train/tokens_per_s`` per logged step and ``valid/<metric>`` per evaluation.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError

TENSORBOARD_DIR = "tensorboard"
_SKIP = {"time", "epoch", "elapsed", "eta", "total_steps"}  # bookkeeping, not curves


def require_tensorboard() -> None:
    """Fail early, before any training, when TensorBoard logging cannot work here."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"TensorBoard logging needs the tensorboard package ({exc}); "
                          "install it with: pip install tensorboard") from None


class TensorBoardLogger:
    """Writes training events as TensorBoard scalars to ``RUN/tensorboard``."""

    def __init__(self, run_dir: str | Path):
        self.log_dir = Path(run_dir) / TENSORBOARD_DIR
        self._writer = None

    def __call__(self, event) -> None:
        if event.kind == "start":
            # Opened only now: the trainer has prepared (or refused) the run directory by then.
            # On resume, purge_step drops curves logged after the checkpoint we resume from.
            from torch.utils.tensorboard import SummaryWriter

            self.close()
            purge = event.step if event.metrics.get("resumed") else None
            self._writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge)
            return
        if self._writer is None:
            return
        if event.kind == "step":
            for name in ("loss", "lr", "tokens_per_s", "examples_per_s"):
                if isinstance(event.metrics.get(name), (int, float)):
                    self._writer.add_scalar(f"train/{name}", event.metrics[name], event.step)
        elif event.kind == "eval":
            for name, value in event.metrics.items():
                if name not in _SKIP and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._writer.add_scalar(f"valid/{name.removeprefix('valid_')}", value, event.step)
            self._writer.flush()  # evaluations are rare: make them visible at once
        elif event.kind == "end":
            self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

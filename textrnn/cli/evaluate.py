"""``textrnn evaluate``: cross-entropy metrics of a trained run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from .app import app
from ..errors import ConfigError
from .common import handle_errors, load_plugins


@dataclass(frozen=True)
class EvaluateRequest:
    """What ``textrnn evaluate`` asks of a task's ``evaluate(run, request)``."""

    file: Path | None  # data to score; None: the run's own validation data
    weights: str
    device: str
    encoding_errors: str
    text_field: str | None
    label_field: str | None
    plot: Path | None  # a PNG to draw, for tasks that draw one
    json_output: bool


@app.command("evaluate")
@handle_errors
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory written by `textrnn train`."),
    file: Optional[Path] = typer.Argument(None, help="Text to evaluate. Default: the run's own validation text."),
    weights: str = typer.Option("best", "--weights", help="best or last."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu, cuda or mps."),
    encoding_errors: str = typer.Option("strict", "--encoding-errors", help="strict or replace."),
    text_field: Optional[str] = typer.Option(None, "--text-field", help="Classifier runs: column holding the text (default: the run's)."),
    label_field: Optional[str] = typer.Option(None, "--label-field", help="Classifier runs: column holding the label (default: the run's)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the evaluation to this PNG, for tasks that draw one (forecast)."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Report loss (nats/token), perplexity, bits per token and bits per character.

    For a classifier run FILE is labelled data (default: the run's validation split),
    and the report is accuracy, macro-F1, per-class precision/recall/F1, the confusion
    matrix and log loss.

    The hidden state is carried through the whole text. Bits per character divide by
    the raw characters of the text, so character and subword models compare directly.
    """
    load_plugins()
    import textrnn
    from ..registry import get_task

    run = textrnn.load(run_dir, device=device, weights=weights)
    info = get_task(run.task)
    if info.evaluate is None:
        raise ConfigError(f"the {run.task} task (plugin {info.plugin}) has no evaluation")
    info.evaluate(run, EvaluateRequest(file, weights, device, encoding_errors, text_field, label_field, plot,
                                       json_output))

"""``textrnn evaluate``: cross-entropy metrics of a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app
from .common import handle_errors, load_plugins, load_run, print_json


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
    from ..api import evaluate_lm_run
    from ..data.text import read_text

    run = load_run(run_dir, device=device, weights=weights)
    if run.task == "classifier":  # FILE is labelled data: accuracy, macro-F1, per class, confusion, log loss
        from ..classification import evaluate_classifier_run
        from .train_classifier import echo_metrics

        metrics, info = evaluate_classifier_run(run, file, text_field, label_field, encoding_errors)
        if json_output:
            print_json(metrics)
        else:
            echo_metrics(metrics, str(file) if file else f"validation ({info['source']})", info["rows"])
        if info["skipped_empty"]:
            typer.echo(f"skipped {info['skipped_empty']} row(s) with empty text", err=True)
        return
    text = read_text(file, encoding_errors) if file is not None else None
    metrics = evaluate_lm_run(run, text)
    if json_output:
        print_json(metrics)
        return
    source = str(file) if file else "validation text"
    typer.echo(f"{source}: {metrics['tokens']:,} tokens, {metrics['chars']:,} chars")
    typer.echo(f"loss            {metrics['loss']:.4f} nats/token")
    typer.echo(f"perplexity      {metrics['perplexity']:.3f}")
    typer.echo(f"bits per token  {metrics['bits_per_token']:.4f}")
    typer.echo(f"bits per char   {metrics['bits_per_char']:.4f}")

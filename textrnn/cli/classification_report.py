"""Classifier metrics as a small report on stdout (train classifier, evaluate)."""

from __future__ import annotations

import typer


def echo_metrics(metrics: dict, source: str, rows: int) -> None:
    """Print classifier metrics as a small report on stdout."""
    labels = list(metrics["per_class"])
    typer.echo(f"{source}: {rows:,} texts")
    typer.echo(f"accuracy   {metrics['accuracy']:.4f}")
    typer.echo(f"macro-F1   {metrics['macro_f1']:.4f}")
    typer.echo(f"log loss   {metrics['log_loss']:.4f} nats")
    width = max(8, *(len(label) for label in labels))
    typer.echo(f"{'label':<{width}}  precision  recall  f1      support")
    for label, row in metrics["per_class"].items():
        typer.echo(f"{label:<{width}}  {row['precision']:.4f}     {row['recall']:.4f}  {row['f1']:.4f}  {row['support']}")
    typer.echo("confusion (rows: true label, columns: predicted)")
    widest = max(len(str(n)) for row in metrics["confusion"].values() for n in row.values())
    cell = max(widest, *(len(label) for label in labels)) + 2
    typer.echo(" " * width + "  " + "".join(f"{label:>{cell}}" for label in labels))
    for label in labels:
        counts = metrics["confusion"][label]
        typer.echo(f"{label:<{width}}  " + "".join(f"{counts[other]:>{cell}}" for other in labels))

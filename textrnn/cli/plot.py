"""``textrnn plot``: training curves of one or more runs, overlaid, in one image."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app
from .common import handle_errors


@app.command("plot")
@handle_errors
def plot(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories to draw; each gets one colour."),
    out: Path = typer.Option(Path("curves.png"), "--out", "-o", help="Image to write; the suffix picks the format (.png, .pdf, .svg)."),
    width: float = typer.Option(12.0, "--width", help="Image width in inches."),
    height: float = typer.Option(8.0, "--height", help="Image height in inches."),
    dpi: int = typer.Option(100, "--dpi", help="Pixels per inch (a PNG is width x dpi pixels wide)."),
) -> None:
    """Plot training and validation loss against steps and against wall time, the
    learning rate, and validation bits/char (language models) or accuracy (classifiers).

    Several runs are overlaid, labelled by their directory names. Needs matplotlib
    (pip install matplotlib).
    """
    from ..plotting import plot_runs

    written = plot_runs(run_dirs, out, width=width, height=height, dpi=dpi)
    typer.echo(str(written))

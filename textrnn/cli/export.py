"""``textrnn export``: write a trained run out as plain safetensors weights or ONNX graphs."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app
from .common import handle_errors, load_plugins, print_json


@app.command("export")
@handle_errors
def export(
    run_dir: Path = typer.Argument(..., help="A run directory (language model or classifier)."),
    fmt: str = typer.Option(..., "--format", help="safetensors (plain weights + config.json) or onnx (graphs for onnxruntime)."),
    out: Path = typer.Option(..., "--out", help="Directory to write; it must be new or empty unless --overwrite."),
    weights: str = typer.Option("best", "--weights", help="best or last."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a directory that already holds files."),
    json_output: bool = typer.Option(False, "--json", help="Print the config.json written instead of a summary."),
) -> None:
    """Export a run for use outside textrnn.

    safetensors: model.safetensors (tied weights written out in full) and config.json, loadable
    into plain torch.nn modules (docs/export.md). onnx: a language model becomes step.onnx (one
    token, state in and out) and sequence.onnx (a whole sequence); a classifier becomes
    classifier.onnx (padded ids and lengths to logits). The tokenizer goes with it.
    Needs `pip install "textrnn[export]"` for onnx.
    """
    load_plugins()
    from ..export import export_run

    config = export_run(run_dir, fmt, out, weights=weights, overwrite=overwrite)
    if json_output:
        print_json(config)
        return
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    typer.echo(f"exported {config['task']} model {config['model']!r} as {fmt} to {out}: {', '.join(files)}")

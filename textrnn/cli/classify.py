"""``textrnn classify``: label texts with a trained classifier run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import handle_errors, load_plugins


@app.command("classify")
@handle_errors
def classify(
    run_dir: Path = typer.Argument(..., help="A classifier run directory written by `textrnn train classifier`."),
    texts: Optional[list[str]] = typer.Argument(None, help="Texts to classify. Default: --file, else one text per line of stdin."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Texts to classify: one per line, or the --text-field column of a .tsv/.csv/.jsonl/.parquet file or datasets folder."),
    text_field: str = typer.Option("text", "--text-field", help="Column holding the text when --file is labelled-data format."),
    batch_size: int = typer.Option(256, "--batch-size", "-b", help="Texts per forward pass (sorted by length first)."),
    weights: str = typer.Option("best", "--weights", help="best or last."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu, cuda or mps."),
    encoding_errors: str = typer.Option("strict", "--encoding-errors", help="strict or replace, for --file and stdin."),
    json_output: bool = typer.Option(False, "--json", help='One JSON object per text: {"text", "label", "probs": {label: p}}.'),
) -> None:
    """Print one line per input text, in input order.

    TSV (default): a header "label<TAB>p_LABEL...", then per text the predicted label
    and the probability of each class. With --json: one JSON object per line.
    Texts are sorted by length and batched internally; output keeps input order.
    """
    from ..errors import ConfigError

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if texts and file is not None:
        raise ConfigError("give texts as arguments or with --file, not both")
    load_plugins()
    if texts:
        inputs = list(texts)
    elif file is not None:
        from ..data.labelled import read_texts

        inputs = read_texts(file, text_field, encoding_errors)
    else:
        if sys.stdin is None or sys.stdin.isatty():
            raise ConfigError("no texts: give TEXT arguments, --file FILE, or pipe one text per line on stdin")
        from ..data.text import decode_bytes

        raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
        inputs = decode_bytes(raw, "stdin", encoding_errors).removesuffix("\n").split("\n") if raw else []
        if not inputs:
            raise ConfigError("no texts on stdin")
    import textrnn

    run = textrnn.load(run_dir, device=device, weights=weights)
    results = run.classify(inputs, batch_size=batch_size)
    out = sys.stdout
    if json_output:
        for text, result in zip(inputs, results):
            out.write(json.dumps({"text": text, **result}, ensure_ascii=False) + "\n")
        return
    labels = run.meta["labels"]
    out.write("label\t" + "\t".join(f"p_{label}" for label in labels) + "\n")
    for result in results:
        out.write(result["label"] + "\t" + "\t".join(f"{result['probs'][label]:.4f}" for label in labels) + "\n")

"""``textrnn score``: loss, perplexity and bits per character of given text."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import handle_errors, load_plugins, print_json


@app.command("score")
@handle_errors
def score(
    run_dir: Path = typer.Argument(..., help="A language-model run directory."),
    file: Optional[Path] = typer.Argument(None, help="Text file to score; '-' or nothing reads stdin unless --text is given."),
    text: Optional[str] = typer.Option(None, "--text", help="Score this text instead of a file."),
    per_line: bool = typer.Option(False, "--per-line", help="One JSON line per input line, each scored from a fresh state."),
    weights: str = typer.Option("best", "--weights", help="best or last."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu, cuda or mps."),
    encoding_errors: str = typer.Option("strict", "--encoding-errors", help="strict or replace."),
) -> None:
    """Score text under a language model, as JSON lines.

    Each object has loss (nats/token), perplexity, bits_per_token, bits_per_char, tokens
    and chars; with --per-line it also has the line number and text.
    """
    load_plugins()
    import textrnn
    from ..data.text import decode_bytes, read_text
    from ..errors import ConfigError

    if text is not None and file is not None:
        raise ConfigError("give either FILE or --text, not both")
    if text is None:
        if file is None or str(file) == "-":
            text = decode_bytes(sys.stdin.buffer.read(), "stdin", encoding_errors)
        else:
            text = read_text(file, encoding_errors)
    run = textrnn.load(run_dir, device=device, weights=weights)
    if not per_line:
        print_json(run.score(text))
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            print_json({"line": number, "text": line, **run.score(line + "\n")})

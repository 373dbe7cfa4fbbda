"""``textrnn evaluate`` for language-model runs: nats per token, perplexity, bits per character."""

from __future__ import annotations

import typer

from textrnn.cli.common import print_json
from textrnn.errors import ConfigError


def evaluate_lm(run, request) -> None:
    from textrnn.api import evaluate_lm_run
    from textrnn.data.text import read_text

    if request.plot is not None:
        raise ConfigError("--plot draws forecasts; a language-model run has nothing to draw")
    file, json_output = request.file, request.json_output
    text = read_text(file, request.encoding_errors) if file is not None else None
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

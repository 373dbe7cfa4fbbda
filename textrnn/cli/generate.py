"""``textrnn generate``: sample text from a trained language model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import handle_errors, load_plugins, print_json


@app.command("generate")
@handle_errors
def generate(
    run_dir: Path = typer.Argument(..., help="A language-model run directory."),
    prompt: str = typer.Option("", "--prompt", "-p", help="Text to continue. Default: start of a line."),
    max_tokens: int = typer.Option(500, "--max-tokens", "-n", help="Tokens to generate per sample."),
    temperature: float = typer.Option(1.0, "--temperature", help="Softmax temperature (> 0)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Sample only from the k most likely tokens."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Nucleus sampling: smallest set with this probability mass, in (0, 1]."),
    repetition_penalty: float = typer.Option(1.0, "--repetition-penalty", help="Penalise tokens already generated (> 1 discourages)."),
    greedy: bool = typer.Option(False, "--greedy", help="Always take the most likely token."),
    beam_size: int = typer.Option(1, "--beam-size", help="Beam search width (1: sampling)."),
    num_samples: int = typer.Option(1, "--num-samples", help="Samples to draw, in one batch."),
    stop: Optional[list[str]] = typer.Option(None, "--stop", help="End a sample at this text (repeatable)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed: the same seed gives the same text."),
    stream: bool = typer.Option(True, "--stream/--no-stream", help="Write text as it is produced."),
    weights: str = typer.Option("best", "--weights", help="best or last."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu, cuda or mps."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON line per sample instead of text."),
) -> None:
    """Sample text from a language model.

    The prompt primes the hidden state once; each new token costs one recurrent step.
    """
    load_plugins()
    import textrnn

    run = textrnn.load(run_dir, device=device, weights=weights)
    live = stream and not json_output and num_samples == 1

    def on_text(index: int, piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    if live:
        sys.stdout.write(prompt)
    samples = run.generate(prompt=prompt, max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                           repetition_penalty=repetition_penalty, greedy=greedy, beam_size=beam_size,
                           num_samples=num_samples, stop=stop or None, seed=seed, on_text=on_text if live else None)
    if json_output:
        for i, text in enumerate(samples):
            print_json({"sample": i, "prompt": prompt, "text": text})
    elif live:
        sys.stdout.write("\n")
    else:
        for i, text in enumerate(samples):
            if i:
                sys.stdout.write("\n" + "-" * 40 + "\n")
            sys.stdout.write(prompt + text)
        sys.stdout.write("\n")

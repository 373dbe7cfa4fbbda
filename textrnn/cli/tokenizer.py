"""``textrnn tokenizer train|encode|decode``: build a tokenizer and use it on its own."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import handle_errors, load_plugins, parse_key_values, print_json

tokenizer_app = typer.Typer(help="Train a tokenizer, or encode and decode text with a stored one.",
                            no_args_is_help=True)
app.add_typer(tokenizer_app, name="tokenizer")


@tokenizer_app.command("train")
@handle_errors
def train(
    corpus: Optional[list[Path]] = typer.Argument(None, help="Text files, directories or globs; CSV, TSV, JSON lines or Parquet files (see --text-field); or a datasets save_to_disk folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory to write the tokenizer to (tokenizer.json and its files)."),
    kind: str = typer.Option("bpe", "--type", "-t", help="Registered tokenizer (char, bpe, unigram, word, ...)."),
    vocab_size: Optional[int] = typer.Option(None, "--vocab-size", help="Vocabulary size for subword tokenizers."),
    tokenizer_option: Optional[list[str]] = typer.Option(None, "--tokenizer-option", help="Any tokenizer option as KEY=VALUE (repeatable)."),
    text_field: Optional[str] = typer.Option(None, "--text-field", help="Column holding the text in CSV/TSV/JSON lines/Parquet/datasets corpora (default: text)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Train on a Hugging Face Hub dataset (NAME) instead of CORPUS files."),
    split: Optional[str] = typer.Option(None, "--split", help="Split of --dataset or of a saved DatasetDict (default: train)."),
    encoding_errors: str = typer.Option("strict", "--encoding-errors", help="strict (invalid UTF-8 is an error) or replace."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the tokenizer already in --out."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Train a tokenizer on the whole corpus (streamed, never loaded whole) and store it in --out."""
    load_plugins()
    from ..data.lm_data import train_tokenizer_on
    from ..errors import ConfigError
    from ..tokenizers import save_tokenizer
    from ..tokenizers.base import META_FILE

    if encoding_errors not in ("strict", "replace"):
        raise ConfigError(f"--encoding-errors must be strict or replace, got {encoding_errors!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not (out / META_FILE).is_file():
            raise ConfigError(f"{out} exists and is not a tokenizer directory; choose another --out")
        if not overwrite:
            raise ConfigError(f"{out} already holds a tokenizer; pass --overwrite to replace it")
    options = parse_key_values(tokenizer_option, "--tokenizer-option")
    if vocab_size is not None:
        options["vocab_size"] = vocab_size
    tokenizer, corpus = train_tokenizer_on([str(p) for p in corpus or []], kind, options, text_field=text_field,
                                           dataset=dataset, split=split, encoding_errors=encoding_errors)
    if overwrite and (out / META_FILE).is_file():
        import shutil

        shutil.rmtree(out)
    fingerprint = save_tokenizer(tokenizer, out)
    summary = {"out": str(out), "type": kind, "vocab_size": tokenizer.vocab_size, "fingerprint": fingerprint,
               "corpus": corpus}
    if json_output:
        print_json(summary)
    else:
        typer.echo(f"{kind} tokenizer: {tokenizer.vocab_size:,} tokens, written to {out} "
                   f"(fingerprint {fingerprint[:12]})")


@tokenizer_app.command("encode")
@handle_errors
def encode(
    directory: Path = typer.Argument(..., help="A tokenizer directory (from `tokenizer train`, or a run's tokenizer/)."),
    text: Optional[str] = typer.Argument(None, help="Text to encode. Default: --file, else standard input."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Encode the text of this file."),
    encoding_errors: str = typer.Option("strict", "--encoding-errors", help="For --file: strict or replace."),
    json_output: bool = typer.Option(False, "--json", help="Print {\"ids\": [...]} instead of space-separated ids."),
) -> None:
    """Print the token ids of TEXT, separated by spaces."""
    load_plugins()
    from ..data.text import read_text
    from ..errors import ConfigError

    if text is not None and file is not None:
        raise ConfigError("pass TEXT or --file, not both")
    tokenizer = _load(directory)
    if file is not None:
        text = read_text(file, encoding_errors)
    elif text is None:
        text = sys.stdin.read()
    ids = tokenizer.encode(text)
    if json_output:
        print_json({"ids": ids})
    else:
        typer.echo(" ".join(map(str, ids)))


@tokenizer_app.command("decode")
@handle_errors
def decode(
    directory: Path = typer.Argument(..., help="A tokenizer directory (from `tokenizer train`, or a run's tokenizer/)."),
    ids: Optional[list[str]] = typer.Argument(None, help="Token ids (space- or comma-separated). Default: standard input."),
    json_output: bool = typer.Option(False, "--json", help="Print {\"text\": ...}."),
) -> None:
    """Print the text of token IDS."""
    load_plugins()
    from ..errors import ConfigError

    tokenizer = _load(directory)
    raw = " ".join(ids) if ids else sys.stdin.read()
    words = raw.replace(",", " ").replace("[", " ").replace("]", " ").split()
    try:
        values = [int(w) for w in words]
    except ValueError:
        bad = next(w for w in words if not w.lstrip("-").isdigit())
        raise ConfigError(f"token ids must be integers, got {bad!r}") from None
    text = tokenizer.decode(values)
    if json_output:
        print_json({"text": text})
    else:
        typer.echo(text, nl=not text.endswith("\n"))


def _load(directory: Path):
    from ..tokenizers import load_tokenizer
    from ..tokenizers.base import META_FILE

    if (directory / "tokenizer" / META_FILE).is_file():  # a run directory: use its tokenizer
        directory = directory / "tokenizer"
    return load_tokenizer(directory)

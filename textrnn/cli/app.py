"""The Typer app that every command module adds its commands to."""

from __future__ import annotations

import typer

from .. import __version__

app = typer.Typer(
    name="textrnn",
    help="Train, evaluate and sample recurrent text models (language models and classifiers).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"textrnn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Train, evaluate and sample recurrent text models (language models and classifiers)."""

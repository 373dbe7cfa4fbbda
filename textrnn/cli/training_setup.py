"""What ``train lm`` and ``train classifier`` share: --config files, --print-config, --tensorboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import typer

from .common import literal_help

CONFIG_HELP = literal_help("TOML file that sets training options: flat keys named like the flags (batch_size = 64), "
                           "with [model_options] and [tokenizer_options] tables. Flags given on the command line "
                           "override it.")
PRINT_CONFIG_HELP = "Print the resolved config as TOML (usable with --config) and exit without training."
TENSORBOARD_HELP = "Also write TensorBoard scalars to OUT/tensorboard (needs: pip install tensorboard)."


def was_given(ctx: typer.Context, name: str) -> bool:
    """True when the user typed this option, False when it holds its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def resolve_config(ctx: typer.Context, cls, values: dict[str, Any], config_file: Path | None,
                   param_names: dict[str, str] | None = None):
    """Build config ``cls`` from the flags' ``values``, laid over the file's where a flag was not given.

    ``values`` holds every field the command sets; its ``*_options`` dicts hold only
    the options given as flags, so they are merged key by key with the file's tables.
    ``param_names`` maps a field to its parameter where the names differ
    (``{"compile": "compile_model"}``).
    """
    param_names = param_names or {}
    params = {p.name for p in ctx.command.params}
    # A field set from a differently named parameter would silently lose to the file.
    unmatched = [k for k in values if not k.endswith("_options") and param_names.get(k, k) not in params]
    if unmatched:
        raise RuntimeError(f"no parameter named {unmatched}: pass param_names to resolve_config")
    merged = dict(values)
    if config_file is not None:
        from ..config_files import read_config_file

        for key, value in read_config_file(config_file, cls).items():
            if key.endswith("_options"):
                merged[key] = {**value, **values.get(key, {})}
            elif not was_given(ctx, param_names.get(key, key)):
                merged[key] = value
    return cls.from_dict(merged)


def print_config(config, notes: list[str] | None = None) -> None:
    """The config as TOML; ``notes`` (where defaults came from) become its header comment."""
    from ..config_files import config_to_toml

    typer.echo(config_to_toml(config.to_dict(), "\n".join(notes) if notes else None), nl=False)


class Listeners:
    """Fans training events out to the progress printer and, with --tensorboard, a TensorBoard writer."""

    def __init__(self, progress: Callable, out: Path, tensorboard: bool):
        self._listeners = [progress]
        self._tensorboard = None
        if tensorboard:
            from ..tensorboard_log import TensorBoardLogger, require_tensorboard

            require_tensorboard()  # before training starts, not after the first hour
            self._tensorboard = TensorBoardLogger(out)
            self._listeners.append(self._tensorboard)

    def __call__(self, event) -> None:
        for listener in self._listeners:
            listener(event)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self._tensorboard is not None:  # interrupted or failed runs send no "end" event
            self._tensorboard.close()

"""Shared CLI plumbing: error handling, plugin warnings, output helpers."""

from __future__ import annotations

import contextlib
import functools
import json
import re
import sys
import warnings
from typing import Any, Callable, Iterator

import typer

from ..errors import TextrnnError, TrainingInterrupted

_warned = False


def err(message: str) -> None:
    typer.echo(message, err=True)


def load_plugins() -> None:
    """Load plugins once, printing one warning line per plugin that failed to import."""
    global _warned
    from ..plugins import state

    st = state()
    if not _warned:
        for line in st.failures:
            err(f"Warning: {line} (set TEXTRNN_STRICT_PLUGINS=1 to make this an error)")
        _warned = True


def reset_warnings() -> None:
    global _warned
    _warned = False


def load_run(run_dir, device: str = "cpu", weights: str = "best"):
    """``textrnn.load``, saying which corrupt checkpoints it skipped (see :func:`fallback_warnings`)."""
    import textrnn

    with fallback_warnings():
        return textrnn.load(run_dir, device=device, weights=weights)


@contextlib.contextmanager
def fallback_warnings() -> Iterator[None]:
    """Print each corrupt checkpoint skipped inside the block as one line on stderr,
    ``Warning: checkpoint step-N is corrupt (...); falling back to step-M``, as training
    does, rather than as a Python warning with a file name and line number."""
    from ..errors import CheckpointFallbackWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CheckpointFallbackWarning)
        yield
    for warning in caught:
        if issubclass(warning.category, CheckpointFallbackWarning):
            err(f"Warning: {warning.message}")
        else:  # not ours to render: hand it back to the warnings machinery
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


# What rich reads as a markup tag in help text: "[" then a lowercase letter, #, / or @.
_RICH_TAG = re.compile(r"(?<!\\)\[(?=[a-z#/@])")


def literal_help(text: str) -> str:
    """Help text shown as written: rich would take ``[model_options]`` for markup and drop it.

    Escapes each such bracket as ``\\[``; a command's docstring writes that itself (as a raw string).
    ``cli.reference`` renders help without rich and removes the escapes.
    """
    return _RICH_TAG.sub(r"\\[", text)


def handle_errors(fn: Callable) -> Callable:
    """Turn library errors into one ``Error: ...`` line and a meaningful exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TrainingInterrupted as exc:
            err(f"Interrupted: {exc}")
            raise typer.Exit(128 + exc.signum) from None
        except TextrnnError as exc:
            err(f"Error: {with_flag(str(exc))}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err("Interrupted.")
            raise typer.Exit(130) from None
        except MemoryError:
            err("Error: out of memory; try a smaller --batch-size or --seq-len")
            raise typer.Exit(1) from None
        except RuntimeError as exc:  # torch raises OOM as RuntimeError subclasses
            if "out of memory" in str(exc).lower():
                err("Error: GPU out of memory; try a smaller --batch-size or --seq-len")
                raise typer.Exit(1) from None
            raise

    return wrapper


def with_flag(message: str) -> str:
    """The library names config fields ("batch_size must be at least 1"); the command line
    adds the flag that sets the field: "... (--batch-size)"."""
    import re

    found = re.match(r"([a-z][a-z0-9_]*) must\b", message)
    if found is None or found.group(1) not in _config_fields():
        return message
    return f"{message} (--{found.group(1).replace('_', '-')})"


def _config_fields() -> set[str]:
    """Every field of every registered task's config (none when the plugins cannot load)."""
    import dataclasses

    from ..registry import tasks

    try:
        return {f.name for info in tasks().values() for f in dataclasses.fields(info.config)}
    except TextrnnError:
        return set()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")


def parse_key_values(items: list[str] | None, what: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are parsed as JSON when they can be (numbers, true/false)."""
    from ..errors import ConfigError

    result: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} must look like KEY=VALUE, got {item!r}")
        try:
            result[key.strip().replace("-", "_")] = json.loads(raw)
        except ValueError:
            result[key.strip().replace("-", "_")] = raw
    return result

"""What every ``train TASK`` command shares: --config files, --print-config, --tensorboard,
signals, torchrun, and the call into the one training loop."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable

import typer

from .common import err, literal_help, load_plugins, parse_key_values

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
                   param_names: dict[str, str] | None = None, stored: dict[str, Any] | None = None):
    """Build config ``cls`` from the flags' ``values``, laid over the file's where a flag was not given.

    ``stored`` (a resumed run's config) lies under both: on ``--resume`` only the flags
    the user typed count, so none of the first run's flags need repeating.

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
    fields = {f.name for f in dataclasses.fields(cls)}
    # only this task's keys: another task's run is refused by the loop, naming both tasks
    for key, value in ((k, v) for k, v in (stored or {}).items() if k in fields):
        if key.endswith("_options") and isinstance(value, dict):
            merged[key] = {**value, **values.get(key, {})}
        elif key not in values or not was_given(ctx, param_names.get(key, key)):
            merged[key] = value
    if config_file is not None:
        from ..config_files import read_config_file

        for key, value in read_config_file(config_file, cls).items():
            if key.endswith("_options"):
                merged[key] = {**value, **values.get(key, {})}
            elif not was_given(ctx, param_names.get(key, key)):
                merged[key] = value
    return cls.from_dict(merged)


def flag_options(model_flags: dict[str, Any], model_option: list[str] | None, tokenizer_option: list[str] | None,
                 vocab_size: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model and tokenizer option tables from their named flags and KEY=VALUE flags."""
    model_options = {k: v for k, v in model_flags.items() if v is not None}
    model_options.update(parse_key_values(model_option, "--model-option"))
    tokenizer_options = parse_key_values(tokenizer_option, "--tokenizer-option")
    if vocab_size is not None:
        tokenizer_options["vocab_size"] = vocab_size
    return model_options, tokenizer_options


def config_for_run(ctx: typer.Context, cls, values: dict[str, Any], config_file: Path | None, print_only: bool,
                   resolve_with_data: Callable, out: Path | None, resume: bool = False):
    """The run's config from flags and --config (over the stored one, with --resume); with
    --print-config print it resolved and return None. ``values`` names ``compile`` for the
    ``compile_model`` parameter."""
    config = resolve_config(ctx, cls, values, config_file, param_names={"compile": "compile_model"},
                            stored=stored_config(out, cls) if resume else None)
    if print_only:
        load_plugins()
        config, notes = resolve_with_data(config)
        print_config(config, notes)
        return None
    if out is None:
        raise typer.BadParameter("is required unless --print-config is given", param_hint="'--out' / '-o'")
    return config


def stored_config(out: Path | None, cls) -> dict[str, Any] | None:
    """A resumable run's config.json when the run is of the task whose config is ``cls``,
    else None (the training loop then says what is wrong, naming both tasks)."""
    from ..errors import TextrnnError
    from ..registry import tasks
    from ..training import run_dir as rd

    if out is None:
        return None
    try:
        info = tasks().get(rd.read_run_meta(Path(out)).get("task"))
        stored = rd.read_json(Path(out) / rd.CONFIG_FILE, "config")
    except TextrnnError:
        return None
    return stored if info is not None and info.config is cls and isinstance(stored, dict) else None


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


def launch_torchrun(nproc: int) -> int:
    """Re-run this command under torchrun with ``nproc`` processes on this machine."""
    import subprocess

    argv = []
    skip = False
    for arg in sys.argv[1:]:  # drop --nproc N / --nproc=N: the workers must not launch again
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            argv.append(arg)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "textrnn", *argv]
    err(f"launching {nproc} processes: {' '.join(cmd[2:])}")
    return subprocess.call(cmd)


class SignalFlag:
    """Remembers SIGINT/SIGTERM so training can save and stop at a step boundary."""

    def __init__(self):
        self.signum: int | None = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signum = signum

    def __call__(self) -> int | None:
        return self.signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run_training(task: str, config, out: Path, *, resume: bool = False, overwrite: bool = False,
                 tensorboard: bool = False, progress: Callable | None = None, nproc: int = 1) -> dict | None:
    """Train ``config`` as a run of ``task`` into ``out``, printing progress to stderr.

    With ``nproc`` > 1 the command re-runs itself under torchrun. Returns the summary on
    the main process, None on the others (which print nothing).
    """
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        raise typer.Exit(launch_torchrun(nproc))
    load_plugins()
    from ..training.loop import train
    from .progress import ProgressPrinter

    with SignalFlag() as flag, Listeners(progress or ProgressPrinter(), out, tensorboard) as listeners:
        summary = train(task, config, out, resume=resume, overwrite=overwrite, on_event=listeners,
                        stop_requested=flag)
    return summary if int(os.environ.get("RANK", "0")) == 0 else None

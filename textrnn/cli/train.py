"""``textrnn train TASK``: one subcommand per registered task (the ``register_tasks`` hook)."""

from __future__ import annotations

import typer

from .app import app

train_app = typer.Typer(help="Train a model. Each task plugin adds its command here: `textrnn train lm`, "
                             "`textrnn train classifier`, ...", no_args_is_help=True)
app.add_typer(train_app, name="train")


def register_task_commands() -> None:
    """Add ``train NAME`` for every registered task that has a command.

    A plugin set that fails to load is reported by the command that runs, not here: a
    broken plugin must not stop ``textrnn --help`` from answering.
    """
    from ..errors import TextrnnError
    from ..registry import tasks

    try:
        found = tasks()
    except TextrnnError:
        return
    for info in found.values():
        if info.add_train_command is not None:
            info.add_train_command(train_app)


register_task_commands()

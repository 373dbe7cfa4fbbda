"""``textrnn train TASK``: one subcommand per registered task (the ``register_tasks`` hook)."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from .app import app


class TaskCommands(TyperGroup):
    """The ``train`` group, whose commands come from the registered tasks.

    They are looked up when the group is used, not when this module is imported: the
    plugin set may change in between (tests, ``TEXTRNN_PLUGINS``), and a plugin set that
    fails to load is reported by the command that runs, not by ``textrnn --help``.
    """

    def list_commands(self, ctx):
        self._add_task_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        self._add_task_commands()
        return super().get_command(ctx, name)

    def _add_task_commands(self) -> None:
        from typer.main import get_command

        from ..errors import TextrnnError
        from ..registry import tasks

        try:
            found = tasks()
        except TextrnnError:
            return
        for info in found.values():
            if info.name in self.commands or info.add_train_command is None:
                continue
            holder = typer.Typer()
            holder.command("_")(lambda: None)  # a group of two keeps each command's own name
            info.add_train_command(holder)
            for name, command in get_command(holder).commands.items():
                if name != "_":
                    self.add_command(command, name)


train_app = typer.Typer(cls=TaskCommands, no_args_is_help=True,
                        help="Train a model. Each task plugin adds its command here: `textrnn train lm`, "
                             "`textrnn train classifier`, ...")
app.add_typer(train_app, name="train")

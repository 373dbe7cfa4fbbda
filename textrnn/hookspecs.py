"""Hook specifications: the whole plugin surface of textrnn.

A plugin is a module with functions decorated by ``textrnn.hookimpl`` whose names match
the specs below. First-party plugins in ``plugins/`` use exactly these hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

hookspec = pluggy.HookspecMarker("textrnn")
hookimpl = pluggy.HookimplMarker("textrnn")


@hookspec
def register_tasks(register):
    """Register tasks: what ``textrnn train TASK`` trains (``lm``, ``classifier``, ...).

    :param register: call ``register(name, task_class, config=ConfigClass,
        description="...", add_train_command=fn, evaluate=fn, methods={...},
        best_metric="valid_loss", higher_is_better=False)``; see
        :class:`textrnn.registry.TaskInfo`. ``task_class`` subclasses
        :class:`textrnn.training.task.Task`: the callbacks of the one training loop.
        Models of the task register through ``register_models`` with ``task=name``.
    """


@hookspec
def register_models(register):
    """Register model families.

    :param register: call ``register(name, factory, task="lm", options=OptionsClass,
        description="...")``. ``task`` names a registered task (``"lm"``, ``"classifier"``, ...).
        ``options`` is a dataclass whose fields (with defaults and a ``help`` metadata
        entry) are the model's hyperparameters; ``factory(vocab_size, options)`` returns
        a ``torch.nn.Module``. A language model has ``forward(ids, state=None) ->
        (logits, state)`` where ``state`` is a tuple of tensors with batch on dim 1;
        a classifier has ``forward(ids, lengths) -> logits`` with ``lengths`` the
        unpadded length of each row (the class count arrives as ``options.num_classes``).
        Import torch inside the factory, not at module level, so ``textrnn --help``
        stays fast.
    """


@hookspec
def register_tokenizers(register):
    """Register tokenizer types.

    :param register: call ``register(name, tokenizer_class, description="...")``.
        ``tokenizer_class`` subclasses :class:`textrnn.tokenizers.Tokenizer`: it
        trains from an iterable of texts, encodes, decodes, saves to a directory and
        loads back.
    """


@hookspec
def on_training_event(event):
    """Observe training as it happens.

    :param event: a :class:`textrnn.events.TrainingEvent` with ``kind`` (``"start"``,
        ``"step"``, ``"eval"``, ``"checkpoint"`` or ``"end"``), ``step`` and a
        ``metrics`` dict. Called on rank 0 only. Return value is ignored.
    """


@hookspec
def register_commands(cli: typer.Typer):
    """Add commands to the ``textrnn`` command line, as llm's plugins do.

    Called once when the CLI starts, before arguments are parsed, so the commands
    appear in ``textrnn --help``. Import heavy libraries (torch, web servers) inside the
    command function, not at module level: every CLI start pays for this hook.

    :param cli: the root :class:`typer.Typer` app; add commands with
        ``@cli.command("name")`` or groups with ``cli.add_typer(...)``.
    """

"""The textrnn command line. This package is the only place that prints or exits."""

from __future__ import annotations

from .app import app  # noqa: E402  (the Typer app; command modules add to it on import)

from . import classify, evaluate, generate, listing, score, tokenizer, train  # noqa: E402,F401  (commands register on import)
from . import plugins_new  # noqa: E402,F401  (adds `new` to the plugins group of listing)
from . import plot, runs  # noqa: E402,F401  (comparing runs: `runs list|show`, `plot`)
from . import tune  # noqa: E402,F401  (hyperparameter search: `tune`, and the hidden per-trial `tune-trial`)
from . import export  # noqa: E402,F401  (`export`: safetensors or ONNX for use outside textrnn)




def register_plugin_commands(cli: "typer.Typer") -> None:
    """Let plugins add their commands (the ``register_commands`` hook).

    A plugin that fails to load is reported by the command that runs, not here: a broken
    or strict-mode plugin set must not stop ``textrnn --help`` from answering.
    """
    from ..errors import TextrnnError
    from ..plugins import get_plugin_manager

    try:
        manager = get_plugin_manager()
    except TextrnnError:
        return
    manager.hook.register_commands(cli=cli)


register_plugin_commands(app)


def main() -> None:
    app()

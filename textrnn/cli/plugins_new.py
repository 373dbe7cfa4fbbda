"""``textrnn plugins new``: scaffold a model plugin package."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import handle_errors, load_plugins, print_json
from .listing import plugins_app


@plugins_app.command("new")
@handle_errors
def new(
    name: str = typer.Argument(..., help="Model name, a lowercase identifier such as mlstm; the package is textrnn_NAME."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Directory to create (default: ./textrnn-NAME); must not exist or be empty."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Write an installable plugin package that registers a small working language model.

    It holds a pyproject.toml with the textrnn entry point, the hookimpl module, the
    model, a README and a test built on textrnn.testing. Nothing is ever overwritten.
    """
    load_plugins()  # the new name is checked against the models already registered
    from ..scaffold import create_plugin, plugin_names

    root, files = create_plugin(name, out)
    if json_output:
        print_json({"directory": str(root), "model": name, "package": plugin_names(name).package,
                    "files": [str(f) for f in files]})
        return
    typer.echo(f"Created {root}:")
    for path in files:
        typer.echo(f"    {path}")
    typer.echo(f'Next: cd {root} && pip install -e ".[test]" && pytest && textrnn models')

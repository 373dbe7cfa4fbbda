"""``textrnn plugins`` and ``textrnn models``: what is installed and registered."""

from __future__ import annotations

import typer

from .app import app
from .common import handle_errors, load_plugins, print_json

plugins_app = typer.Typer(help="List installed plugins, or scaffold a new one with `textrnn plugins new`.",
                          invoke_without_command=True)
app.add_typer(plugins_app, name="plugins")


@plugins_app.callback()
@handle_errors
def plugins(
    ctx: typer.Context,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List loaded plugins with their version and the hooks they implement."""
    if ctx.invoked_subcommand is not None:
        return
    load_plugins()
    from ..plugins import state

    st = state()
    rows = [vars(info) for info in st.infos.values()]
    if json_output:
        print_json({"plugins": rows, "failed": st.failures})
        return
    for row in rows:
        typer.echo(f"{row['name']:<16} {row['version'] or '-':<10} {row['module']:<24} {', '.join(row['hooks'])}")


@app.command("models")
@handle_errors
def models(
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List registered models with their task and options (with defaults)."""
    load_plugins()
    from ..registry import models as registered

    table = registered()
    if json_output:
        print_json([{"name": m.name, "task": m.task, "plugin": m.plugin, "description": m.description,
                     "options": m.option_rows()} for m in table.values()])
        return
    for m in table.values():
        typer.echo(f"{m.name} ({m.task}, plugin {m.plugin}): {m.description}")
        for row in m.option_rows():
            typer.echo(f"    --{row['name'].replace('_', '-'):<20} {row['type']:<6} default {row['default']!r:<8} {row['help']}")

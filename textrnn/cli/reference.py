"""The CLI reference (docs/cli.md), rendered from every command's ``--help``.

``python docs/make_cli_reference.py`` writes it; a test renders it again in memory and
fails when the file is stale. Help is rendered the way plain ``click`` renders it, at a
fixed width and without rich's boxes and colours, so the text depends on the code only,
never on the terminal that ran the script.
"""

from __future__ import annotations

from typing import Any, Iterator

import typer

WIDTH = 100
HEADER = """\
# textrnn command-line reference

<!-- Generated from each command's --help by `python docs/make_cli_reference.py`; do not edit by hand. -->

Every command also answers `-h` / `--help`. Shell completion: `textrnn --install-completion`.
"""


def _walk(command: Any, path: list[str], parent: Any = None) -> Iterator[tuple[list[str], str]]:
    """Depth-first over the command tree in registration order: (command path, help text)."""
    command.rich_markup_mode = None  # plain click formatting: a fresh tree per render, so this sticks nowhere
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = command.context_class(command, info_name=path[-1], parent=parent, **settings)
    yield path, command.get_help(ctx).rstrip().replace("\\[", "[")  # rich's escapes (literal_help) mean nothing here
    for name in getattr(command, "list_commands", lambda ctx: [])(ctx):
        sub = command.get_command(ctx, name)
        if sub is not None and not sub.hidden:
            yield from _walk(sub, [*path, name], ctx)


def render() -> str:
    """The whole reference as Markdown: one section per command and subcommand."""
    from . import app

    sections = [HEADER]
    for path, text in _walk(typer.main.get_command(app), ["textrnn"]):
        sections.append(f"## {' '.join(path)}\n\n```text\n{text}\n```\n")
    return "\n".join(sections)

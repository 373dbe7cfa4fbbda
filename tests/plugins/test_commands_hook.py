"""The register_commands hook: a third-party plugin adds a command to the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys

from .fakedist import BROKEN_PLUGIN, install_fake_plugin

GREET_PLUGIN = '''
    """A third-party plugin that adds ``textrnn greet``."""
    import typer

    import textrnn


    def greet(name: str = typer.Argument("world", help="Who to greet."),
              shout: bool = typer.Option(False, "--shout", help="Upper case.")) -> None:
        """Greet someone (from a plugin)."""
        text = f"hello {name}"
        typer.echo(text.upper() if shout else text)


    @textrnn.hookimpl
    def register_commands(cli):
        cli.command("greet")(greet)
'''


def textrnn_cli(root, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m textrnn ARGS`` with ``root`` (holding fake distributions) on the path."""
    path = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "textrnn", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": path, **env})


def test_third_party_plugin_adds_a_command(tmp_path):
    root = install_fake_plugin(tmp_path / "site", "textrnn-greet", "textrnn_greet", GREET_PLUGIN, "greet")
    result = textrnn_cli(root, "greet", "Ada", "--shout")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "HELLO ADA\n"
    listing = textrnn_cli(root, "--help")
    assert "greet" in listing.stdout and "Greet someone (from a plugin)." in listing.stdout
    assert "serve" in listing.stdout  # the first-party command comes through the same hook


def test_plugin_commands_can_be_switched_off(tmp_path):
    root = install_fake_plugin(tmp_path / "site", "textrnn-greet", "textrnn_greet", GREET_PLUGIN, "greet")
    result = textrnn_cli(root, "greet", TEXTRNN_DISABLE_PLUGIN_AUTOLOAD="1")
    assert result.returncode == 2 and "No such command 'greet'" in result.stderr


def test_strict_mode_with_a_broken_plugin_still_answers_help(tmp_path):
    root = install_fake_plugin(tmp_path / "site", "textrnn-broken", "textrnn_broken", BROKEN_PLUGIN, "broken")
    result = textrnn_cli(root, "--help", TEXTRNN_STRICT_PLUGINS="1")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    failing = textrnn_cli(root, "models", TEXTRNN_STRICT_PLUGINS="1")
    assert failing.returncode == 1 and "Error: plugin 'broken' failed to load" in failing.stderr

"""docs/cli.md matches every command's --help, and shell completion works."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.cli.reference import render

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_cli_reference_is_current():
    current = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert render() == current, "docs/cli.md is stale: run python docs/make_cli_reference.py"


def test_reference_has_every_command_and_ignores_the_terminal(monkeypatch):
    text = render()
    for section in ("## textrnn\n", "## textrnn train lm\n", "## textrnn plugins new\n", "## textrnn tokenizer encode\n"):
        assert section in text
    assert "╭" not in text and "\x1b[" not in text  # no rich boxes, no colour codes
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("TERMINAL_WIDTH", "40")
    assert render() == text


def complete(words: str) -> list[str]:
    """What bash completion offers for the last of ``words`` (as the generated script asks for it)."""
    env = {"_TEXTRNN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    result = CliRunner().invoke(app, [], prog_name="textrnn", env=env)
    assert result.exit_code == 0, result.stderr
    return result.stdout.split()


def test_shell_completion_script_and_completions():
    result = CliRunner().invoke(app, ["--show-completion", "bash"], env={"SHELL": "/bin/bash"})
    assert result.exit_code == 0, result.stderr
    assert "_TEXTRNN_COMPLETE=complete_bash" in result.stdout
    assert "complete -o default -F _textrnn_completion textrnn" in result.stdout
    assert complete("textrnn plugins n") == ["new"]
    assert complete("textrnn train lm --hidden") == ["--hidden-size"]

"""--help shows words in square brackets as written: rich must not read them as markup.

``train lm --help`` once printed "with  and  tables" for "[model_options]" and
"[tokenizer_options]". Every command is checked: each bracketed word of its plain help
(the text docs/cli.md holds) must also be in what ``--help`` prints through rich.
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.cli.reference import render

# What rich would take for a tag: "[" then a lowercase letter, #, / or @, up to "]".
TAG = re.compile(r"\[[a-z#/@][^\[\]\n]*\]")
WIDE = {"COLUMNS": "250", "TERMINAL_WIDTH": "250"}  # no wrapping inside a bracket


def bracketed_words_by_command() -> dict[tuple[str, ...], set[str]]:
    found = {}
    for section in re.split(r"^## ", render(), flags=re.M)[1:]:
        path = tuple(section.split("\n", 1)[0].split()[1:])
        words = set(TAG.findall(section))
        if words:
            found[path] = words
    return found


def rich_help(*path: str) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return re.sub(r"[\s│]+", " ", result.stdout)  # join rich's wrapped panel lines


def test_train_lm_help_names_its_config_tables():
    shown = rich_help("train", "lm")
    assert "[model_options]" in shown and "[tokenizer_options]" in shown
    assert "with and tables" not in shown and "\\[" not in shown


@pytest.mark.parametrize("path,words", sorted(bracketed_words_by_command().items()))
def test_every_bracketed_word_survives_rich_help(path, words):
    shown = rich_help(*path)
    assert {word for word in words if word not in shown} == set()
    assert "\\[" not in shown  # an escape must never show


def test_the_check_covers_the_commands_that_lost_words():
    commands = bracketed_words_by_command()
    assert "[model_options]" in commands[("train", "lm")] and "[export]" in commands[("export",)]

"""One config source per task: every `train TASK` flag's default is its config field's default.

The dataclass holds the defaults; the Typer signature names them again for --help. This
test is what keeps the two from drifting apart, for every registered task with a command.
"""

from __future__ import annotations

import dataclasses

import pytest
import typer
from typer.main import get_command

from textrnn.registry import tasks

PARAM_FOR_FIELD = {"compile": "compile_model"}  # where the Python parameter name differs
NOT_FLAGS = {"model_options", "tokenizer_options", "corpus", "data"}  # tables and positional data


def train_command(name: str):
    app = typer.Typer()
    app.command("x")(lambda: None)  # a group of two, so that Typer keeps the command's own name
    tasks()[name].add_train_command(app)
    return get_command(app).commands[name]


@pytest.mark.parametrize("name", ["lm", "classifier"])
def test_flag_defaults_are_the_config_defaults(name):
    config = tasks()[name].config
    params = {p.name: p for p in train_command(name).params}
    checked = 0
    for field in dataclasses.fields(config):
        if field.name in NOT_FLAGS or field.default is dataclasses.MISSING:
            continue
        param = params.get(PARAM_FOR_FIELD.get(field.name, field.name))
        assert param is not None, f"{name}: config field {field.name!r} has no flag"
        assert param.default == field.default, (name, field.name, param.default, field.default)
        checked += 1
    assert checked >= 30  # the shared base and the task's own fields, not a handful


def test_a_drifted_default_is_caught(monkeypatch):
    from textrnn.training.config import TrainConfig

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    monkeypatch.setattr(fields["clip"], "default", 5.0)  # as if someone changed the dataclass alone
    with pytest.raises(AssertionError, match="clip"):
        test_flag_defaults_are_the_config_defaults("lm")

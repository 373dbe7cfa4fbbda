"""Every hook spec is documented with its exact signature, and exercised by a test."""

from __future__ import annotations

import inspect
import types
from pathlib import Path

import typer

import textrnn
from textrnn import hookspecs
from textrnn.events import TrainingEvent
from textrnn.training.config import TrainConfig
from textrnn.training.loop import train as train_run

from tests.cli.helpers import TINY, run_cli

HOOKS = [name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "textrnn_spec")]


def test_hooks_have_param_docs():
    assert set(HOOKS) == {"register_models", "register_tokenizers", "on_training_event", "register_commands",
                          "register_tasks"}
    for name in HOOKS:
        fn = getattr(hookspecs, name)
        for param in inspect.signature(fn).parameters:
            assert f":param {param}:" in fn.__doc__, (name, param)


def recorder(called: list[str]) -> types.ModuleType:
    """A plugin that implements every hook spec, with the spec's parameters, and notes each call."""
    source = "".join(f"@hookimpl\ndef {name}({', '.join(inspect.signature(getattr(hookspecs, name)).parameters)}):\n"
                     f"    called.append({name!r})\n\n" for name in HOOKS)
    module = types.ModuleType("hook_recorder")
    module.__dict__.update(hookimpl=textrnn.hookimpl, called=called)
    exec(compile(source, "hook_recorder", "exec"), module.__dict__)
    return module


def test_every_hook_is_called_by_the_host(small_corpus, tmp_path):
    """Each hook spec is called where users' actions reach it: listing models, building the CLI,
    training (with its tokenizer). A new spec that nothing calls, or a call that is dropped, fails
    here (a text search of the test files, as this test was, passed whatever the host did)."""
    from textrnn.cli import register_plugin_commands
    from textrnn.plugins import register_plugin

    called: list[str] = []
    register_plugin(recorder(called), name="hook_recorder")
    assert run_cli("models").exit_code == 0
    register_plugin_commands(typer.Typer())  # what importing textrnn.cli does for the real app
    result = run_cli("train", "lm", small_corpus, "--out", tmp_path / "run", *TINY, "--max-steps", "2")
    assert result.exit_code == 0, result.stderr
    assert set(called) == set(HOOKS), sorted(set(HOOKS) - set(called))
    assert called.count("on_training_event") > 2  # start, steps, evaluation, end


def test_on_training_event_hook_observes_training(small_corpus, tmp_path):
    import textrnn
    from textrnn.plugins import register_plugin

    seen: list[TrainingEvent] = []

    class Observer:
        @textrnn.hookimpl
        def on_training_event(self, event):
            seen.append(event)

    register_plugin(Observer(), name="observer")
    config = TrainConfig(corpus=[str(small_corpus)], max_steps=20, eval_every=10, batch_size=4, seq_len=16,
                         model_options={"hidden_size": 16, "embedding_dim": 8, "num_layers": 1})
    train_run("lm", config, tmp_path / "run")
    kinds = [e.kind for e in seen if e.kind != "message"]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert [e.step for e in seen if e.kind == "eval"] == [10, 20]
    assert [e.step for e in seen if e.kind == "step"] == [10, 20]
    assert all("valid_loss" in e.metrics for e in seen if e.kind == "eval")


def test_register_tokenizers_hook(tmp_path, monkeypatch):
    import textrnn
    from textrnn.plugins import register_plugin
    from textrnn.registry import tokenizers
    from textrnn_char import CharTokenizer

    class UpperChar(CharTokenizer):
        type_name = "upper"

    class Plugin:
        @textrnn.hookimpl
        def register_tokenizers(self, register):
            register("upper", UpperChar)

    register_plugin(Plugin(), name="upper")
    assert tokenizers()["upper"].cls is UpperChar
    assert tokenizers()["upper"].plugin == "upper"


def test_every_hook_is_documented_with_its_exact_signature():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    for name in HOOKS:
        signature = f"{name}{inspect.signature(getattr(hookspecs, name))}"
        assert f"## {signature}\n" in docs, f"docs/plugins.md has no section '## {signature}'"

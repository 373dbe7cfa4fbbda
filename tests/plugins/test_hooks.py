"""Every hook spec is documented with its exact signature, and exercised by a test."""

from __future__ import annotations

import inspect
from pathlib import Path

from textrnn import hookspecs
from textrnn.events import TrainingEvent
from textrnn.training.config import TrainConfig
from textrnn.training.loop import train as train_run

HOOKS = [name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "textrnn_spec")]


def test_hooks_have_param_docs():
    assert set(HOOKS) == {"register_models", "register_tokenizers", "on_training_event", "register_commands",
                          "register_tasks"}
    for name in HOOKS:
        fn = getattr(hookspecs, name)
        for param in inspect.signature(fn).parameters:
            assert f":param {param}:" in fn.__doc__, (name, param)


def test_every_hook_is_tested():
    here = Path(__file__).parent
    text = "\n".join(p.read_text() for p in here.glob("*.py"))
    for name in HOOKS:
        assert f"def {name}(" in text or f"hook_{name}" in text, f"no test implements hook {name}"


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

"""Defaults and init_from come from what plugins register; core names no first-party plugin."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import textrnn
from textrnn.errors import PluginError
from textrnn.plugins import register_plugin
from textrnn.registry import classifier_for, default_model, default_tokenizer, models

CORE = Path(textrnn.__file__).parent


@dataclass
class NoOptions:
    pass


def plugin(**registrations):
    """A run-time plugin registering each ``name=(task, kwargs)`` model."""
    class Plugin:
        @textrnn.hookimpl
        def register_models(self, register):
            for name, (task, kwargs) in registrations.items():
                register(name, lambda vocab_size, options: None, task=task, options=NoOptions, **kwargs)

    register_plugin(Plugin(), name="third-party")


def test_first_party_plugins_declare_the_defaults():
    assert (default_model("lm"), default_tokenizer("lm")) == ("lstm", "char")
    assert (default_model("classifier"), default_tokenizer("classifier")) == ("bigru", "unigram")
    assert (classifier_for("lstm"), classifier_for("gru"), classifier_for("mlstm")) == ("bilstm", "bigru", None)
    assert models()["bigru"].init_from == ("gru",) and models()["bigru"].default


def test_a_third_party_default_does_not_replace_a_first_party_one():
    plugin(zzz=("classifier", {"default": True, "init_from": "gru"}), aaa=("lm", {"default": True}))
    assert default_model("classifier") == "bigru" and classifier_for("gru") == "bigru"
    assert default_model("lm") == "lstm"


def test_a_third_party_classifier_starts_from_its_language_model():
    plugin(bimlstm=("classifier", {"init_from": ("mlstm", "xlstm")}))
    assert classifier_for("mlstm") == classifier_for("xlstm") == "bimlstm"

    from textrnn.tuning.space import _default_model

    assert _default_model("lm", None) == "lstm" and _default_model("classifier", None) == "bigru"


@pytest.mark.parametrize("task, kwargs, message", [
    ("lm", {"init_from": ("lstm",)}, "only a classifier"),
    ("classifier", {"init_from": 3}, "expected a name or a list of names"),
])
def test_bad_declarations_name_the_plugin(task, kwargs, message):
    plugin(bad=(task, kwargs))
    with pytest.raises(PluginError, match=f"plugin 'third-party'.*{message}"):
        models()


def test_a_tokenizer_default_for_an_unknown_task_is_refused():
    from textrnn.registry import tokenizers
    from textrnn_char import CharTokenizer

    class Plugin:
        @textrnn.hookimpl
        def register_tokenizers(self, register):
            register("mychar", CharTokenizer, default_for=("lm", "nosuchtask"))

    register_plugin(Plugin(), name="third-party")
    with pytest.raises(PluginError, match="unknown task .nosuchtask."):
        tokenizers()


# Where core may still name a first-party plugin, and why. Each entry is one file; a new
# file naming one fails the test below.
ALLOWED = {
    "scaffold.py": "the template of `textrnn plugins new`, a plugin's source",
    "export/tokenizer_files.py": "the export format spells how to tokenize without textrnn, per tokenizer type",
    "cli/tokenizer.py": "`textrnn tokenizer train --type` defaults to bpe and lists the types in its help",
}
# Names only a plugin gives. "lstm", "gru" and "rnn" are also torch's cell types (the fused
# step implements them), and "char" and "word" are also granularities, so they are left out.
FIRST_PARTY = r"bilstm|bigru|unigram|bpe|mlstm|xlstm|mingru|minlstm|bimingru|hawk"


def test_core_names_no_first_party_model_or_tokenizer():
    pattern = re.compile(rf"[\"']({FIRST_PARTY})[\"']")
    found = {}
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(CORE).as_posix()
        names = set(pattern.findall(path.read_text(encoding="utf-8")))
        if names and rel not in ALLOWED:
            found[rel] = sorted(names)
    assert not found, f"core names first-party plugins: {found}"

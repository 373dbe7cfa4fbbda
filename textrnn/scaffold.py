"""``textrnn plugins new``: write a small, installable model plugin to start from.

The generated package is laid out as a third-party plugin is, and works as written:
``pip install -e .`` registers its model through the ``textrnn`` entry-point group,
``pytest`` runs the contract checks of :mod:`textrnn.testing` on it, and
``textrnn train lm --model NAME`` trains it. The model is a one-layer recurrent LM
stepped in Python, so the cell is one line to replace::

    textrnn-NAME/
        pyproject.toml            setuptools, [project.entry-points.textrnn]
        README.md
        textrnn_NAME/__init__.py  options dataclass and the register_models hookimpl (no torch)
        textrnn_NAME/model.py     the torch module
        tests/test_NAME.py        textrnn.testing contract checks
"""

from __future__ import annotations

import importlib.util
import re
import string
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .errors import ConfigError, PluginError

# The name becomes the model name, the entry-point name and part of a module name.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class PluginNames:
    """Every name the scaffold derives from NAME (here for NAME = ``my_cell``)."""

    model: str  # my_cell: what --model takes and the entry-point name
    package: str  # textrnn_my_cell: the import name
    distribution: str  # textrnn-my-cell: the pip name and the default directory
    class_prefix: str  # MyCell: MyCellOptions, MyCellLanguageModel


def plugin_names(name: str) -> PluginNames:
    """Derive the package, distribution and class names from a plugin NAME.

    :raises ConfigError: if NAME is not a lowercase identifier of at most 40 characters.
    """
    if not NAME_PATTERN.fullmatch(name or ""):
        raise ConfigError(f"plugin name {name!r} must be a lowercase Python identifier of at most 40 characters "
                          "(a letter, then letters, digits or underscores), for example 'mlstm'")
    camel = "".join(part.capitalize() for part in name.split("_"))
    return PluginNames(name, f"textrnn_{name}", f"textrnn-{name.replace('_', '-')}", camel)


def check_name_is_free(names: PluginNames) -> None:
    """Refuse a NAME whose model or package already exists: the new plugin would clash on load."""
    from . import registry

    try:
        taken = registry.models()
    except PluginError:
        taken = {}  # a broken plugin elsewhere must not stop anyone writing a new one
    if names.model in taken:
        raise ConfigError(f"a model named {names.model!r} is already registered by plugin "
                          f"{taken[names.model].plugin!r}; choose another NAME")
    if importlib.util.find_spec(names.package) is not None:
        raise ConfigError(f"a module named {names.package!r} is already importable; choose another NAME")


def create_plugin(name: str, out: str | Path | None = None) -> tuple[Path, list[Path]]:
    """Write a new plugin package for NAME into ``out`` (default ``./textrnn-NAME``).

    Returns the directory and the files written, relative to it.

    :raises ConfigError: for an invalid or taken NAME, or when ``out`` exists and is
        not an empty directory (nothing is ever overwritten).
    """
    names = plugin_names(name)
    check_name_is_free(names)
    root = Path(out) if out is not None else Path(names.distribution)
    if root.exists() and not (root.is_dir() and not any(root.iterdir())):
        raise ConfigError(f"{root} already exists; the scaffold never overwrites files, choose another --out")
    values = {
        "model": names.model, "package": names.package, "distribution": names.distribution,
        "Prefix": names.class_prefix, "textrnn_version": __version__,
    }
    files = {
        Path("pyproject.toml"): PYPROJECT,
        Path("README.md"): README,
        Path(names.package) / "__init__.py": INIT,
        Path(names.package) / "model.py": MODEL,
        Path("tests") / f"test_{names.model}.py": TEST,
    }
    try:
        for rel, template in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(string.Template(template).substitute(values), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"could not write the plugin into {root}: {exc.strerror or exc}") from None
    return root, list(files)


# Templates use string.Template ($name), so the Python and TOML braces inside stay literal.

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = "A textrnn plugin that adds the $model language model"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["textrnn>=$textrnn_version", "torch>=2.1"]

[project.optional-dependencies]
test = ["pytest>=8"]

# textrnn finds plugins through this entry-point group: NAME = "module with hookimpls"
[project.entry-points.textrnn]
$model = "$package"

[tool.setuptools.packages.find]
include = ["$package*"]
'''

README = '''\
# $distribution

A textrnn plugin that registers the `$model` language model.

```bash
pip install -e ".[test]"      # registers the plugin through the `textrnn` entry-point group
textrnn models                # lists $model with its options
pytest                        # textrnn.testing contract checks
textrnn train lm corpus.txt --model $model --out runs/$model --max-steps 1000
textrnn generate runs/$model --prompt "The " --max-tokens 200
```

## Layout

* `$package/__init__.py`: the options dataclass and the `register_models` hookimpl.
  textrnn imports this module just to list models, so it does not import torch.
* `$package/model.py`: the model, `forward(ids, state=None) -> (logits, state)`.
  The recurrence is one line in `forward`: replace it with your own cell.
* `tests/test_$model.py`: `textrnn.testing` checks the contracts textrnn's trainer,
  evaluator, generator and checkpoints rely on (shapes, carried state, batch
  independence, save/load, determinism, gradients).
'''

INIT = '''\
"""textrnn plugin: the ``$model`` language model.

textrnn imports this module to list models, so it stays free of torch; the factory
imports :mod:`$package.model` only when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import textrnn

__version__ = "0.1.0"


@dataclass
class ${Prefix}Options:
    """Hyperparameters: `textrnn models` lists them, `--model-option KEY=VALUE` sets them."""

    embedding_dim: int = field(default=64, metadata={"help": "size of the token embedding"})
    hidden_size: int = field(default=128, metadata={"help": "units in the recurrent layer"})
    dropout: float = field(default=0.0, metadata={"help": "dropout on the embedding and the recurrent output"})

    def __post_init__(self):
        # textrnn reports a ValueError raised here as one "Error: ..." line
        for name in ("embedding_dim", "hidden_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def build(vocab_size: int, options: ${Prefix}Options):
    from .model import ${Prefix}LanguageModel  # torch is imported here, not when models are listed

    return ${Prefix}LanguageModel(vocab_size, options)


@textrnn.hookimpl
def register_models(register):
    register("$model", build, task="lm", options=${Prefix}Options,
             description="one-layer recurrent language model stepped in Python")
'''

MODEL = '''\
"""The ``$model`` language model."""

from __future__ import annotations

import torch
from torch import nn

from . import ${Prefix}Options


class ${Prefix}LanguageModel(nn.Module):
    """Embedding -> one recurrent layer, stepped in Python -> linear decoder.

    ``forward(ids, state)`` returns ``(logits, state)`` where ``state = (h,)`` and ``h``
    is (1, batch, hidden_size): textrnn carries the state from window to window and
    selects batch rows along dim 1, as torch's own RNN modules lay it out.
    """

    def __init__(self, vocab_size: int, options: ${Prefix}Options):
        super().__init__()
        self.options = options
        self.embedding = nn.Embedding(vocab_size, options.embedding_dim)
        self.input_to_hidden = nn.Linear(options.embedding_dim, options.hidden_size)
        self.hidden_to_hidden = nn.Linear(options.hidden_size, options.hidden_size, bias=False)
        self.dropout = nn.Dropout(options.dropout)
        self.decoder = nn.Linear(options.hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None):
        batch, steps = ids.shape
        x = self.dropout(self.embedding(ids))  # (B, T, E)
        projected = self.input_to_hidden(x)  # (B, T, H): the input half of every step at once
        h = state[0][0] if state is not None else projected.new_zeros(batch, self.options.hidden_size)  # (B, H)
        outputs = []
        for t in range(steps):
            h = torch.tanh(projected[:, t] + self.hidden_to_hidden(h))  # (B, H): the cell; replace it with yours
            outputs.append(h)
        out = torch.stack(outputs, dim=1)  # (B, T, H)
        logits = self.decoder(self.dropout(out))  # (B, T, V)
        return logits, (h.unsqueeze(0),)
'''

TEST = '''\
"""The contracts textrnn relies on, checked by textrnn.testing."""

import pytest

from textrnn.testing import check_language_model, check_model

from $package import ${Prefix}Options, build


def test_model_keeps_the_textrnn_contracts():
    check_language_model(build, ${Prefix}Options(embedding_dim=8, hidden_size=16, dropout=0.1), name="$model")


def test_plugin_is_registered():
    # textrnn finds the model through the entry point once the package is installed (pip install -e .)
    check_model("$model", embedding_dim=8, hidden_size=16)


def test_options_reject_out_of_range_values():
    with pytest.raises(ValueError, match="hidden_size"):
        ${Prefix}Options(hidden_size=0)
'''

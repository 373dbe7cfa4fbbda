"""The example third-party plugin in plugins/mlstm: its own distribution, listed, trained and sampled
through the CLI, and switched off by TEXTRNN_DISABLE_PLUGIN_AUTOLOAD=1.

textrnn's own install does not include it (`pip install -e plugins/mlstm` does, as .ci/run
runs). Without it these tests skip, except under CI, where a missing plugin is a failure.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
INSTALLED = importlib.util.find_spec("textrnn_mlstm") is not None
if not INSTALLED and os.environ.get("CI"):
    raise RuntimeError("CI=true but textrnn-mlstm is not installed; .ci/run installs it with pip install -e plugins/mlstm")
needs_mlstm = pytest.mark.skipif(not INSTALLED, reason="textrnn-mlstm is not installed: pip install -e plugins/mlstm")


def test_textrnn_does_not_register_the_plugin_itself():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "mlstm" not in project["project"]["entry-points"]["textrnn"]
    assert not any("mlstm" in where for where in project["tool"]["setuptools"]["packages"]["find"]["where"])
    own = tomllib.loads((REPO / "plugins" / "mlstm" / "pyproject.toml").read_text(encoding="utf-8"))
    assert own["project"]["entry-points"]["textrnn"] == {"mlstm": "textrnn_mlstm"}


@needs_mlstm
def test_the_entry_point_comes_from_its_own_distribution():
    (entry,) = [e for e in importlib.metadata.entry_points(group="textrnn") if e.name == "mlstm"]
    assert entry.dist.name == "textrnn-mlstm" and entry.value == "textrnn_mlstm"


@needs_mlstm
def test_mlstm_is_listed_with_its_options():
    models = {m["name"]: m for m in json.loads(run_cli("models", "--json").stdout)}
    assert models["mlstm"]["task"] == "lm" and models["mlstm"]["plugin"] == "mlstm"
    options = {o["name"] for o in models["mlstm"]["options"]}
    assert {"hidden_size", "num_layers", "dropout", "embedding_dropout", "output_dropout", "tie_weights"} <= options


@needs_mlstm
def test_disabling_autoload_turns_it_off(monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTRNN_DISABLE_PLUGIN_AUTOLOAD", "1")
    names = {m["name"] for m in json.loads(run_cli("models", "--json").stdout)}
    assert "mlstm" not in names and "lstm" in names  # textrnn's own plugins still load
    result = run_cli("train", "lm", "--model", "mlstm", "--out", tmp_path / "run", "--max-steps", "1")
    assert result.exit_code == 1 and "unknown lm model 'mlstm'" in result.stderr


@needs_mlstm
def test_mlstm_trains_and_generates(small_corpus, tmp_path):
    run = tmp_path / "run"
    result = run_cli("train", "lm", small_corpus, "--out", run, "--model", "mlstm", "--max-steps", "5",
                     "--eval-every", "5", "--batch-size", "4", "--seq-len", "16", "--sample-tokens", "0",
                     "--hidden-size", "16", "--embedding-dim", "8", "--num-layers", "2", "--dropout", "0.1",
                     "--model-option", "output_dropout=0.1", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["steps"] == 5
    meta = json.loads((run / "run.json").read_text())
    assert meta["model"] == "mlstm" and meta["model_options"]["num_layers"] == 2
    result = run_cli("generate", run, "--prompt", "the ", "--max-tokens", "12", "--seed", "1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("the ")

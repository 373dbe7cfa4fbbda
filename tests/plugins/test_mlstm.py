"""The example third-party plugin in plugins/mlstm: listed, trained and sampled through the CLI."""

from __future__ import annotations

import json

from tests.cli.helpers import run_cli


def test_mlstm_is_listed_with_its_options():
    models = {m["name"]: m for m in json.loads(run_cli("models", "--json").stdout)}
    assert models["mlstm"]["task"] == "lm" and models["mlstm"]["plugin"] == "mlstm"
    options = {o["name"] for o in models["mlstm"]["options"]}
    assert {"hidden_size", "num_layers", "dropout", "embedding_dropout", "output_dropout", "tie_weights"} <= options


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

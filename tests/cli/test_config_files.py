"""`train lm|classifier --config FILE`, flags over the file, --print-config, config.toml in the run."""

from __future__ import annotations

import json
import shutil
import sys

from tests.conftest import REPO, english_like

from .helpers import assert_error, run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

RUN_TOML = """\
# a comment
max_steps = 6
eval-every = 3
batch_size = 4
seq-len = 16
lr = 0.01
seed = 7

[model_options]
hidden_size = 16
embedding-dim = 8
num_layers = 1
"""


def test_config_file_sets_every_option(small_corpus, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(RUN_TOML, encoding="utf-8")
    run = tmp_path / "run"
    result = run_cli("train", "lm", small_corpus, "--config", config, "--out", run, "--sample-tokens", "0", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["steps"] == 6
    saved = json.loads((run / "config.json").read_text())
    assert (saved["max_steps"], saved["eval_every"], saved["batch_size"], saved["seq_len"], saved["lr"],
            saved["seed"]) == (6, 3, 4, 16, 0.01, 7)
    given = {"hidden_size": 16, "embedding_dim": 8, "num_layers": 1}
    assert {k: saved["model_options"][k] for k in given} == given  # the rest: defaults resolved from the data
    assert saved["model_options"]["init"] == "torch"
    meta = json.loads((run / "run.json").read_text())
    assert meta["model_options"]["hidden_size"] == 16 and meta["status"] == "finished"

    # the run's config.toml is the same config, and feeds straight back in
    stored = tomllib.loads((run / "config.toml").read_text(encoding="utf-8"))
    assert stored == {k: v for k, v in saved.items() if v is not None}
    again = run_cli("train", "lm", "--config", run / "config.toml", "--print-config")
    assert again.exit_code == 0, again.stderr
    assert tomllib.loads(again.stdout) == stored


def test_flags_given_override_the_file_and_defaults_do_not(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(RUN_TOML, encoding="utf-8")
    result = run_cli("train", "lm", "--config", config, "--print-config", "--batch-size", "32", "--seed", "1337",
                     "--hidden-size", "64", "--model-option", "dropout=0.1")
    assert result.exit_code == 0, result.stderr
    resolved = tomllib.loads(result.stdout)
    # given flags win, even when they equal the default (32, 1337); untouched flags keep the file's values
    assert (resolved["batch_size"], resolved["seed"]) == (32, 1337)
    assert (resolved["lr"], resolved["max_steps"], resolved["seq_len"]) == (0.01, 6, 16)
    given = {"hidden_size": 64, "embedding_dim": 8, "num_layers": 1, "dropout": 0.1}
    assert {k: resolved["model_options"][k] for k in given} == given
    assert resolved["optimizer"] == "adamw"  # neither in the file nor given: the default


def test_print_config_round_trip(tmp_path):
    # --print-config resolves the data-driven defaults, so it reads the data: give it some.
    corpus, data = tmp_path / "corpus.csv", tmp_path / "data.tsv"
    corpus.write_text("body\n" + "\n".join(english_like(30_000).splitlines()) + "\n", encoding="utf-8")
    shutil.copy(REPO / "corpora" / "sentiment.tsv", data)
    for task, args in (
        ("lm", [corpus, "--tokenizer", "bpe", "--vocab-size", "300", "--epochs", "2", "--patience", "3",
                "--no-tie-weights", "--tokenizer-option", "character_coverage=0.99", "--text-field", "body"]),
        ("classifier", [data, "--model", "bigru", "--pooling", "attention", "--threads", "1",
                        "--class-weights", "--max-length", "50", "--monitor", "loss"]),
    ):
        first = run_cli("train", task, *args, "--print-config")
        assert first.exit_code == 0, first.stderr
        path = tmp_path / f"{task}.toml"
        path.write_text(first.stdout, encoding="utf-8")
        second = run_cli("train", task, "--config", path, "--print-config")
        assert second.exit_code == 0, second.stderr
        assert uncommented(second.stdout) == uncommented(first.stdout)  # the header says where defaults came from
        assert not list(tmp_path.glob("*/run.json"))  # nothing was trained


def uncommented(toml: str) -> str:
    return "\n".join(line for line in toml.splitlines() if not line.startswith("#"))


def test_unknown_key_names_the_nearest_match(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("batch_sise = 8\n", encoding="utf-8")
    for task in ("lm", "classifier"):
        result = run_cli("train", task, "--config", config, "--out", tmp_path / "run")
        assert_error(result, "run.toml", "'batch_sise'", "did you mean 'batch_size'?")
    assert not (tmp_path / "run").exists()
    config.write_text("max_steps = 'ten'\n", encoding="utf-8")
    assert_error(run_cli("train", "lm", "--config", config, "--print-config"), "max_steps must be an integer")


def test_out_is_required_to_train():
    result = run_cli("train", "lm", "--max-steps", "1")
    assert result.exit_code == 2 and "--out" in result.stderr

"""`textrnn runs list|show` over finished, interrupted and failed runs."""

from __future__ import annotations

import json

import pytest

from textrnn.errors import TrainingInterrupted
from textrnn.training.config import TrainConfig
from textrnn.training.loop import train as train_run

from .helpers import TINY, assert_error, run_cli

LIBRARY_TINY = dict(model_options={"hidden_size": 16, "embedding_dim": 8, "num_layers": 1}, batch_size=4,
                    seq_len=16, eval_every=5, log_every=2, max_steps=20)


def stop_at(call: int, action):
    """A ``stop_requested`` callback that acts on its ``call``-th check (one check per step)."""
    calls = {"n": 0}

    def check():
        calls["n"] += 1
        return action() if calls["n"] == call else None

    return check


def boom():
    raise RuntimeError("boom")


@pytest.fixture
def runs(small_corpus, tmp_path):
    """Four runs under tmp_path/runs: two finished LMs, one interrupted by a signal, one failed."""
    root = tmp_path / "runs"
    for name, steps in (("small", "6"), ("large", "10")):
        result = run_cli("train", "lm", small_corpus, "--out", root / "sweep" / name, "--max-steps", steps,
                         "--eval-every", "5", "--log-every", "2", *TINY)
        assert result.exit_code == 0, result.stderr
    config = TrainConfig(corpus=[str(small_corpus)], **LIBRARY_TINY)
    with pytest.raises(TrainingInterrupted):
        train_run("lm", config, root / "stopped", stop_requested=stop_at(8, lambda: 15))
    with pytest.raises(RuntimeError, match="boom"):
        train_run("lm", config, root / "broken", stop_requested=stop_at(8, boom))
    return root


def test_runs_list(runs):
    result = run_cli("runs", "list", runs, "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["path"]: row for row in json.loads(result.stdout)}
    assert list(rows) == ["broken", "stopped", "sweep/large", "sweep/small"]
    large = rows["sweep/large"]
    assert (large["task"], large["model"], large["tokenizer"], large["status"]) == ("lm", "lstm", "char", "finished")
    assert large["steps"] == 10 and large["best_metric"] == "valid_loss" and large["best_step"] in (5, 10)
    assert 0 < large["best_value"] < 10 and large["parameters"] > 0 and large["wall_time_s"] > 0
    assert rows["sweep/small"]["steps"] == 6
    assert rows["stopped"]["status"] == "interrupted" and rows["stopped"]["steps"] == 7
    assert rows["broken"]["status"] == "failed" and rows["broken"]["error"] == "RuntimeError: boom"
    assert rows["broken"]["steps"] == 7 and rows["broken"]["best_step"] == 5  # evaluated at 5 before failing

    table = run_cli("runs", "list", runs)
    assert table.exit_code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["RUN", "TASK/MODEL", "TOKENIZER"] and len(lines) == 5
    by_run = {line.split()[0]: line for line in lines[1:]}
    assert by_run["stopped"].endswith("interrupted") and by_run["broken"].endswith("failed")
    assert "lm/lstm" in by_run["sweep/large"] and f"loss {large['best_value']:.4f}" in by_run["sweep/large"]

    # a sub-directory lists only what is below it; a directory with no runs lists nothing
    assert [r["path"] for r in json.loads(run_cli("runs", "list", runs / "sweep", "--json").stdout)] == \
        ["large", "small"]
    empty = run_cli("runs", "list", runs / "sweep" / "small" / "tokenizer")
    assert empty.exit_code == 0 and empty.stdout == "" and "no runs" in empty.stderr


def test_runs_list_classifier_accuracy_and_unreadable_run(tmp_path):
    root = tmp_path / "runs"
    result = run_cli("train", "classifier", "--out", root / "clf", "--max-steps", "4", "--eval-every", "2",
                     "--embedding-dim", "8", "--hidden-size", "8", "--threads", "1")
    assert result.exit_code == 0, result.stderr
    (root / "junk").mkdir()
    (root / "junk" / "run.json").write_text("{not json", encoding="utf-8")
    rows = {row["path"]: row for row in json.loads(run_cli("runs", "list", root, "--json").stdout)}
    assert rows["clf"]["best_metric"] == "valid_accuracy" and 0 <= rows["clf"]["best_value"] <= 1
    assert rows["junk"]["status"] == "unreadable" and "corrupt" in rows["junk"]["error"]
    assert "acc " in run_cli("runs", "list", root).stdout


def test_runs_show(runs):
    result = run_cli("runs", "show", runs / "sweep" / "large", "--json")
    assert result.exit_code == 0, result.stderr
    details = json.loads(result.stdout)
    assert details["config"]["max_steps"] == 10 and details["config"]["model_options"]["hidden_size"] == 32
    assert details["metrics"]["train_logs"] == 5 and details["metrics"]["evaluations"] == 2
    assert details["metrics"]["best_eval"]["valid_loss"] == details["best_value"]
    checkpoints = {c["name"]: c for c in details["checkpoints"]}
    assert set(checkpoints) == {"step-00000005", "step-00000010"}
    assert sum(c["best"] for c in checkpoints.values()) == 1
    assert all(c["complete"] and c["bytes"] > 0 for c in checkpoints.values())

    text = run_cli("runs", "show", runs / "broken")
    assert text.exit_code == 0, text.stderr
    assert "failed after 7 steps" in text.stdout and "RuntimeError: boom" in text.stdout
    assert "step-00000007" not in text.stdout and "step-00000005" in text.stdout
    assert 'model = "lstm"' in text.stdout  # the config, as TOML

    assert_error(run_cli("runs", "show", runs / "nowhere"), "no such run directory")
    assert_error(run_cli("runs", "list", runs / "nowhere"), "no such directory")


def test_status_after_ctrl_c_and_resume(small_corpus, tmp_path):
    """A second Ctrl-C (KeyboardInterrupt) records "interrupted"; a resumed run is "running" until it ends."""
    run = tmp_path / "run"
    config = TrainConfig(corpus=[str(small_corpus)], **LIBRARY_TINY)

    def ctrl_c():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run("lm", config, run, stop_requested=stop_at(8, ctrl_c))
    meta = json.loads((run / "run.json").read_text())
    assert (meta["status"], meta["error"], meta["steps"]) == ("interrupted", None, 7)

    seen = []
    train_run("lm", config, run, resume=True,
              on_event=lambda e: seen.append(json.loads((run / "run.json").read_text())["status"])
              if e.kind == "start" else None)
    assert seen == ["running"]
    row = json.loads(run_cli("runs", "list", tmp_path, "--json").stdout)[0]
    assert (row["status"], row["steps"], row["error"]) == ("finished", 20, None)

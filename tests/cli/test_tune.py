"""textrnn tune end to end: one small study, killed with SIGKILL and run again, then checked from every side.

The study is a grid of four learning rates on a tiny LSTM: two that learn, one so small
that nothing happens (the median rule must prune it) and one so large that the loss
explodes (the trial must fail, and the search go on). Each trial is a process of its
own, so the study is shared by the tests below rather than run once per test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.cli.helpers import assert_error, run_cli
from tests.conftest import english_like

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LRS = [0.01, 0.005, 1e-7, 100.0]
MAX_STEPS = 160  # tune evaluates every 160 // 8 = 20 steps; the bad trial has 120 steps left when pruned


def write_space(root, corpus) -> str:
    path = root / "space.toml"
    path.write_text(f"""
task = "lm"
[fixed]
corpus = [{json.dumps(str(corpus))}]
batch_size = 8
seq_len = 32
max_steps = {MAX_STEPS}
warmup_steps = 0
embedding_dim = 16
model_options.num_layers = 1
[search]
lr = {{choice = {json.dumps(LRS)}}}
hidden_size = {{choice = [32]}}
""", encoding="utf-8")
    return str(path)


def tune_command(space, out, *extra):
    return [sys.executable, "-m", "textrnn", "tune", space, "--out", str(out), "--sampler", "grid",
            "--prune-warmup", "1", "--json", *extra]


def read_study(out):
    try:
        return json.loads((out / "study.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune")
    corpus = root / "corpus.txt"
    corpus.write_text(english_like(20_000, seed=3), encoding="utf-8")
    space, out = write_space(root, corpus), root / "study"
    first = subprocess.Popen(tune_command(space, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    seen = None
    while time.time() < deadline and first.poll() is None:
        seen = read_study(out)
        statuses = [t["status"] for t in seen["trials"]] if seen else []
        if "finished" in statuses and "running" in statuses:  # one done, the next one under way
            break
        time.sleep(0.05)
    first.kill()
    _, killed_stderr = first.communicate()
    assert first.returncode == -signal.SIGKILL, killed_stderr
    second = subprocess.run(tune_command(space, out), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    return {"out": out, "space": space, "before_kill": seen, "stdout": second.stdout, "stderr": second.stderr,
            "study": read_study(out)}


def trials_by_lr(study):
    return {t["params"]["lr"]: t for t in study["study"]["trials"]}


def test_killed_study_continues_with_the_same_trials(study):
    before, after = study["before_kill"], study["study"]
    assert [t["params"] for t in after["trials"]] == [t["params"] for t in before["trials"]]
    assert [t["params"]["lr"] for t in after["trials"]] == LRS  # none repeated, none lost
    assert all(t["status"] in ("finished", "pruned", "failed") for t in after["trials"])
    assert "continuing the study" in study["stderr"]
    interrupted = next(t for t in before["trials"] if t["status"] == "running")
    assert trials_by_lr(study)[interrupted["params"]["lr"]]["attempts"] == 2
    for trial in after["trials"]:  # every trial is an ordinary run directory
        assert (study["out"] / trial["name"] / "run.json").exists()


def test_learning_trials_finish_and_are_ranked_by_validation_loss(study):
    trials = trials_by_lr(study)
    assert trials[0.01]["status"] == trials[0.005]["status"] == "finished"
    assert trials[0.01]["steps"] == MAX_STEPS
    assert trials[0.01]["metric"] < trials[0.005]["metric"] < 3.0
    assert study["study"]["eval_every"] == MAX_STEPS // 8
    assert len(trials[0.01]["history"]) >= 8


def test_a_trial_that_learns_nothing_is_pruned_after_the_warmup(study):
    trial = trials_by_lr(study)[1e-7]
    assert trial["status"] == "pruned", trial
    eval_every = study["study"]["eval_every"]
    assert trial["pruned_at_step"] >= 2 * eval_every  # never at the first (warm-up) evaluation
    assert trial["steps"] < MAX_STEPS
    assert f"{trial['name']} pruned at step" in study["stderr"]


def test_a_diverging_trial_is_recorded_as_failed_with_its_error(study):
    trial = trials_by_lr(study)[100.0]
    assert trial["status"] == "failed"
    assert "NaN or infinite, or exploded" in trial["error"]
    assert "Traceback" not in trial["error"]


def test_json_leaderboard(study):
    board = json.loads(study["stdout"])
    assert board["metric"] == "valid_loss" and board["direction"] == "minimize" and board["task"] == "lm"
    rows = board["trials"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert [r["status"] for r in rows] == ["finished", "finished", "pruned", "failed"]
    assert set(rows[0]) >= {"rank", "trial", "status", "metric", "params", "wall_time", "steps", "error", "run_dir"}
    assert rows[0]["params"] == {"hidden_size": 32, "lr": 0.01} and board["best"] == rows[0]["trial"]
    assert rows[0]["wall_time"] > 0 and rows[3]["metric"] is None


def test_best_config_is_a_flat_training_config_of_the_best_trial(study):
    best = tomllib.loads((study["out"] / "best.toml").read_text())
    assert best["lr"] == 0.01 and best["model_options"]["hidden_size"] == 32
    assert best["max_steps"] == MAX_STEPS and best["eval_every"] == MAX_STEPS // 8
    from textrnn.training.config import TrainConfig

    TrainConfig.from_dict(best)  # every key is a TrainConfig field, with a valid value
    printed = run_cli("train", "lm", "--config", study["out"] / "best.toml", "--print-config")
    assert printed.exit_code == 0, printed.stderr
    assert tomllib.loads(printed.stdout)["lr"] == 0.01  # what `train lm --config` reads back
    assert (study["out"] / "params.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_finished_study_is_only_reported_again(study):
    again = run_cli("tune", study["space"], "--out", study["out"], "--sampler", "grid", "--prune-warmup", "1")
    assert again.exit_code == 0, again.stderr
    assert "started" not in again.stderr
    lines = again.stdout.splitlines()
    assert lines[0].split()[:4] == ["rank", "trial", "status", "valid_loss"]
    assert "failed: loss became NaN" in again.stdout


def test_another_seed_or_space_in_the_same_directory_is_refused(study):
    assert_error(run_cli("tune", study["space"], "--out", study["out"], "--sampler", "grid", "--seed", "1"),
                 "different seed (0 -> 1)", "--overwrite")
    assert_error(run_cli("tune", study["space"], "--out", study["out"], "--sampler", "random"),
                 "different sampler")


def test_space_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[fixed]\nmax_steps = 5\n[search]\nhiden_size = {choice = [8, 16]}\n')
    assert_error(run_cli("tune", bad, "--out", tmp_path / "s"), "unknown key 'hiden_size'",
                 "did you mean 'hidden_size'")
    assert not (tmp_path / "s").exists()
    unbounded = tmp_path / "unbounded.toml"
    unbounded.write_text('[search]\nlr = {log_uniform = [1e-3, 1e-2]}\n')
    assert_error(run_cli("tune", unbounded, "--out", tmp_path / "s"), "--budget-per-trial")
    assert_error(run_cli("tune", unbounded, "--out", tmp_path / "s", "--budget-per-trial", "5", "--sampler", "sobol"),
                 "sampler must be 'random' or 'grid'")
    assert_error(run_cli("tune", tmp_path / "missing.toml", "--out", tmp_path / "s"), "does not exist")


def test_a_study_whose_every_trial_fails_exits_1(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text(f'[fixed]\ncorpus = [{json.dumps(str(tmp_path / "nowhere.txt"))}]\nmax_steps = 5\n'
                     '[search]\nlr = {choice = [0.01]}\n')
    result = run_cli("tune", space, "--out", tmp_path / "s")
    assert_error(result, "all 1 trials failed", "nowhere.txt")
    assert "trial-000  failed" in result.stdout  # the leaderboard still comes first
    study = json.loads((tmp_path / "s" / "study.json").read_text())
    assert study["trials"][0]["status"] == "failed" and "nowhere.txt" in study["trials"][0]["error"]


def test_dry_run_lists_the_trials(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text('[fixed]\nmax_steps = 5\n[search]\nlr = {log_uniform = [1e-3, 1e-2]}\n'
                     'hidden_size = {choice = [128, 256]}\n')
    result = run_cli("tune", space, "--out", tmp_path / "s", "--trials", "3", "--seed", "4", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    trials = json.loads(result.stdout)["trials"]
    assert [t["trial"] for t in trials] == ["trial-000", "trial-001", "trial-002"]
    assert all(set(t["params"]) == {"lr", "hidden_size"} for t in trials)
    assert not (tmp_path / "s").exists()

"""textrnn tune, without training: the space file, samplers, the median rule, the study file, TOML output."""

from __future__ import annotations

import json
import math
import sys

import pytest

from textrnn.errors import ConfigError, RunError, TextrnnError
from textrnn.tuning import runner
from textrnn.tuning.pruning import should_prune
from textrnn.config_files import config_to_toml
from textrnn.tuning.samplers import sample_trials
from textrnn.tuning.space import parse_space
from textrnn.tuning.study import Study

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def space(search: str, fixed: str = "", task: str = "lm"):
    text = f'task = "{task}"\n[fixed]\n{fixed}\n[search]\n{search}\n'
    return parse_space(tomllib.loads(text), source="space.toml")


SHAKESPEARE = """
lr = {log_uniform = [1e-3, 1e-2]}
hidden_size = {choice = [128, 256, 384]}
dropout = {uniform = [0.0, 0.4]}
seq_len = {choice = [64, 128, 256]}
"""


# -- the space file ------------------------------------------------------------------
def test_keys_resolve_to_config_fields_and_model_options():
    s = space(SHAKESPEARE + 'tokenizer_options.vocab_size = {int = [100, 200], step = 50}',
              fixed='corpus = ["a.txt"]\nmodel_options.num_layers = 1\n[fixed.tokenizer_options]\nlowercase = true')
    targets = {p.name: (p.section, p.field) for p in s.params}
    assert targets == {"dropout": ("model_options", "dropout"), "hidden_size": ("model_options", "hidden_size"),
                       "lr": (None, "lr"), "seq_len": (None, "seq_len"),
                       "tokenizer_options.vocab_size": ("tokenizer_options", "vocab_size")}
    config = s.config_for({"dropout": 0.1, "hidden_size": 256, "lr": 0.002, "seq_len": 64,
                           "tokenizer_options.vocab_size": 150})
    assert config == {"corpus": ["a.txt"], "lr": 0.002, "seq_len": 64,
                      "model_options": {"num_layers": 1, "hidden_size": 256, "dropout": 0.1},
                      "tokenizer_options": {"lowercase": True, "vocab_size": 150}}
    assert s.metric == "valid_loss" and s.minimize


def test_classifier_space_uses_the_classifier_model_options():
    s = space("pooling = {choice = ['max', 'attention']}\nlr = {log_uniform = [1e-4, 1e-2]}", task="classifier")
    assert {p.name: p.section for p in s.params} == {"lr": None, "pooling": "model_options"}
    assert s.metric == "valid_accuracy" and not s.minimize


@pytest.mark.parametrize("search, fixed, fragments", [
    ("hiden_size = {choice = [1, 2]}", "", ["unknown key 'hiden_size'", "did you mean 'hidden_size'"]),
    ("model_options.hiden = {choice = [1, 2]}", "", ["no option 'hiden'", "did you mean 'hidden"]),
    ("lr = {uniform = [0.1, 0.01]}", "", ["range [0.1, 0.01] is empty"]),
    ("lr = {log_uniform = [0, 0.01]}", "", ["positive low bound"]),
    ("lr = {uniform = [0.001, 0.01], stpe = 0.001}", "", ["unknown key 'stpe'", "did you mean 'step'"]),
    ("lr = {uniform = [0.001, 0.01], choice = [1]}", "", ["exactly one of"]),
    ("lr = 0.01", "", ["must be a distribution"]),
    ("lr = {choice = []}", "", ["non-empty list"]),
    ("hidden_size = {uniform = [32, 64]}", "", ["takes integers", "{int = [32, 64]}"]),
    ("seq_len = {int = [32.5, 64]}", "", ["integer bounds"]),
    ("lr = {choice = [0.1, 0.1]}", "", ["twice"]),
    ("lr = {log_uniform = [1e-3, 1e-2]}", "lr = 0.1", ["both searched and set in [fixed]"]),
    ("lr = {log_uniform = [1e-3, 1e-2]}", "bach_size = 3", ["[fixed]", "did you mean 'batch_size'"]),
    ("lr = {log_uniform = [1e-3, 1e-2]}", 'model = "lsmt"', ["unknown lm model 'lsmt'"]),
])
def test_space_mistakes_are_named(search, fixed, fragments):
    with pytest.raises(TextrnnError) as info:
        space(search, fixed)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_unknown_top_level_key_and_empty_search():
    with pytest.raises(ConfigError, match="did you mean 'search'"):
        parse_space({"serch": {}}, "s.toml")
    with pytest.raises(ConfigError, match=r"\[search\] is empty"):
        parse_space({"fixed": {"lr": 0.1}}, "s.toml")


def test_bad_values_fail_the_trial_check_before_anything_runs():
    s = space("dropout = {choice = [0.1, 1.5]}")
    s.check_config(s.config_for({"dropout": 0.1}), "trial 0")
    with pytest.raises(ConfigError, match=r"trial 1: .*dropout must be in \[0, 1\)"):
        s.check_config(s.config_for({"dropout": 1.5}), "trial 1")
    s = space("seq_len = {choice = [64, 0]}")
    with pytest.raises(ConfigError, match="seq_len must be at least 1"):
        s.check_config(s.config_for({"seq_len": 0}), "trial 1")


# -- samplers ------------------------------------------------------------------------
def test_random_sampling_is_seeded_in_range_and_a_prefix_of_longer_studies():
    s = space(SHAKESPEARE + "num_layers = {int = [1, 3]}")
    trials, note = sample_trials(s, "random", seed=7, trials=8)
    assert note is None and len(trials) == 8
    assert trials == sample_trials(s, "random", seed=7, trials=8)[0]
    assert trials != sample_trials(s, "random", seed=8, trials=8)[0]
    assert sample_trials(s, "random", seed=7, trials=5)[0] == trials[:5]  # --trials can be raised later
    for t in trials:
        assert 1e-3 <= t["lr"] <= 1e-2 and 0.0 <= t["dropout"] <= 0.4
        assert t["hidden_size"] in (128, 256, 384) and t["seq_len"] in (64, 128, 256)
        assert t["num_layers"] in (1, 2, 3)
    assert len({json.dumps(t, sort_keys=True) for t in trials}) == 8
    # log-uniform: about as many draws below the geometric middle as above it
    lrs = [t["lr"] for t in sample_trials(s, "random", seed=1, trials=400)[0]]
    below = sum(lr < math.sqrt(1e-3 * 1e-2) for lr in lrs)
    assert 140 < below < 260


def test_random_sampling_never_repeats_a_trial_and_says_when_the_space_runs_out():
    s = space("hidden_size = {choice = [16, 32]}\nseq_len = {int = [8, 24], step = 8}")
    trials, note = sample_trials(s, "random", seed=0, trials=10)
    assert len(trials) == 6 and "only 6 distinct" in note
    assert len({json.dumps(t, sort_keys=True) for t in trials}) == 6


def test_grid_covers_every_combination_in_order():
    s = space("hidden_size = {choice = [16, 32]}\nlr = {log_uniform = [1e-4, 1e-2]}\n"
              "dropout = {uniform = [0.0, 0.4], step = 0.2}")
    trials, note = sample_trials(s, "grid", seed=0, trials=None)
    assert note is None and len(trials) == 2 * 3 * 3
    assert trials[0] == {"dropout": 0.0, "hidden_size": 16, "lr": 1e-4}
    assert trials[1] == {"dropout": 0.0, "hidden_size": 16, "lr": 1e-3}  # the last key varies fastest
    assert trials[-1] == {"dropout": 0.4, "hidden_size": 32, "lr": 1e-2}
    assert {t["dropout"] for t in trials} == {0.0, 0.2, 0.4}
    subset, _ = sample_trials(s, "grid", seed=3, trials=5)
    assert len(subset) == 5 and all(t in trials for t in subset)
    assert sorted(subset, key=trials.index) == subset
    assert subset == sample_trials(s, "grid", seed=3, trials=5)[0]
    more, note = sample_trials(s, "grid", seed=0, trials=30)
    assert more == trials and "18 points" in note


def test_grid_points_for_continuous_ranges():
    s = space("lr = {log_uniform = [1e-4, 1e-1], points = 4}\ndropout = {uniform = [0.0, 0.5]}")
    trials, _ = sample_trials(s, "grid", seed=0, trials=None)
    assert sorted({t["lr"] for t in trials}) == [1e-4, 1e-3, 1e-2, 1e-1]
    assert sorted({t["dropout"] for t in trials}) == [0.0, 0.25, 0.5]


# -- the median rule -----------------------------------------------------------------
def test_median_rule():
    good = [[10, 2.0], [20, 1.8], [30, 1.6]]
    fine = [[10, 2.2], [20, 2.0], [30, 1.9]]
    bad = [[10, 3.0], [20, 3.0]]
    assert not should_prune(bad[:1], [good, fine], minimize=True, warmup=1)  # still warming up
    verdict = should_prune(bad, [good, fine], minimize=True, warmup=1)
    assert verdict and verdict.step == 20 and verdict.median == pytest.approx(1.9) and verdict.trials == 2
    assert not should_prune(bad, [good], minimize=True, warmup=1)  # one other trial is too thin a field
    assert not should_prune(bad, [good, [[10, 2.5]]], minimize=True, warmup=1)  # the other has not reached step 20
    assert not should_prune([[10, 3.0], [20, 1.7]], [good, fine], minimize=True, warmup=1)
    # best so far counts, and steps that do not line up use each trial's best up to the step
    assert not should_prune([[10, 1.5], [20, 2.5]], [good, fine], minimize=True, warmup=1)
    assert should_prune([[15, 2.5], [25, 2.4]], [good, fine], minimize=True, warmup=1).median == pytest.approx(1.9)
    # accuracy: higher is better
    assert should_prune([[1, 0.5], [2, 0.55]], [[[1, 0.7], [2, 0.8]], [[1, 0.6], [2, 0.9]]], minimize=False, warmup=1)
    # NaN so far: the trainer fails the trial itself, the rule stays out of it
    assert not should_prune([[10, None], [20, None]], [good, fine], minimize=True, warmup=1)


# -- the study file ------------------------------------------------------------------
def test_study_refuses_another_space_or_seed_and_extends_only_by_prefix(tmp_path):
    identity = {"task": "lm", "fixed": {}, "search": {"lr": {"choice": [1, 2]}}, "sampler": "random", "seed": 0,
                "budget_per_trial": 5.0}
    study = Study.open(tmp_path / "s", identity)
    study.extend([{"lr": 1}, {"lr": 2}])
    assert json.loads((tmp_path / "s" / "study.json").read_text())["trials"][1]["status"] == "pending"
    again = Study.open(tmp_path / "s", identity)
    again.extend([{"lr": 1}, {"lr": 2}, {"lr": 3}])
    assert [t["name"] for t in again.trials] == ["trial-000", "trial-001", "trial-002"]
    with pytest.raises(RunError, match="already has 3 trials"):
        Study.open(tmp_path / "s", identity).extend([{"lr": 1}])
    with pytest.raises(RunError, match=r"different seed \(0 -> 1\).*--overwrite"):
        Study.open(tmp_path / "s", {**identity, "seed": 1})
    with pytest.raises(RunError, match=r"different space \(search\)"):
        Study.open(tmp_path / "s", {**identity, "search": {"lr": {"choice": [1, 3]}}})
    (tmp_path / "s" / "trial-000").mkdir()
    (tmp_path / "s" / "notes.txt").write_text("mine")
    fresh = Study.open(tmp_path / "s", {**identity, "seed": 1}, overwrite=True)
    assert fresh.trials == [] and not (tmp_path / "s" / "trial-000").exists()
    assert (tmp_path / "s" / "notes.txt").read_text() == "mine"  # only tune's own files go
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("")
    with pytest.raises(RunError, match="not a study"):
        Study.open(tmp_path / "other", identity)


# -- TOML output and parallel slots ---------------------------------------------------
def test_config_toml_round_trips():
    config = {"model": "lstm", "corpus": ["a b.txt", 'quote"d\n'], "lr": 1e-07, "clip": 1.0, "max_steps": None,
              "compile": False, "epochs": 2.5, "model_options": {"hidden_size": 256, "tie_weights": True},
              "tokenizer_options": {}, "weird key": float("inf"), "text": "tab\there \x7f"}
    text = config_to_toml(config, header="line one\nline two")  # best.toml's writer
    assert text.startswith("# line one\n# line two\n")
    parsed = tomllib.loads(text)
    expected = {k: v for k, v in config.items() if v is not None}
    assert parsed == expected


def test_parallel_slots(monkeypatch):
    monkeypatch.setattr(runner, "_cuda_devices", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    slots, note = runner.plan_slots(3, None)
    assert [s.label for s in slots] == ["cuda:0", "cuda:1", "cuda:0"] and "2 GPU" in note
    assert {s.device for s in slots} == {"cuda"}  # each trial process sees only its own GPU
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert [s.gpu for s in runner.plan_slots(2, "cuda")[0]] == ["5", "7"]
    assert runner.plan_slots(1, None)[0] == [runner.Slot(0)]
    monkeypatch.setattr(runner, "_cuda_devices", lambda: 0)
    monkeypatch.setattr(runner, "_cpu_cores", lambda: 8)
    slots, note = runner.plan_slots(3, None)
    assert [(s.device, s.threads) for s in slots] == [(None, 2)] * 3 and "2 thread" in note
    assert [s.device for s in runner.plan_slots(2, "cpu")[0]] == ["cpu", "cpu"]
    with pytest.raises(ConfigError):
        runner.plan_slots(0, None)

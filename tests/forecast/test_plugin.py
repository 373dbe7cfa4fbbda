"""The forecast task arrives through the hooks: ``train forecast``, ``forecast`` and its models
exist exactly when the plugin is registered."""

from __future__ import annotations

import subprocess
import sys

from textrnn.registry import get_task, models

PROBE = """
import sys
from textrnn import plugins
if sys.argv[1] == "without":
    plugins.get_plugin_manager().unregister(name="forecast")
from textrnn.cli import app
from textrnn.registry import models, tasks
print("TASKS", sorted(tasks()), "MODELS", sorted(n for n, m in models().items() if m.task == "forecast"))
for args in (["train", "--help"], ["--help"]):
    try:
        app(args)
    except SystemExit:
        pass
"""


def probe(which: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE, which], capture_output=True, text=True, timeout=60,
                          env={"COLUMNS": "200", "PATH": "", "HOME": "/tmp"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_train_forecast_and_forecast_are_listed_only_with_the_plugin():
    with_plugin, without = probe("with"), probe("without")
    assert "TASKS ['classifier', 'forecast', 'lm'] MODELS ['ar-rnn', 'block-rnn']" in with_plugin
    assert "Train a recurrent forecaster" in with_plugin and "Forecast past the end of each series" in with_plugin
    assert "TASKS ['classifier', 'lm'] MODELS []" in without
    assert "forecaster" not in without and "Forecast past" not in without


def test_registration():
    info = get_task("forecast")
    assert info.plugin == "forecast" and info.best_metric == "valid_mase" and not info.higher_is_better
    assert set(info.methods) == {"forecast"} and info.evaluate is not None
    assert {name: m.task for name, m in models().items() if name.endswith("-rnn")} == {
        "block-rnn": "forecast", "ar-rnn": "forecast"}


def test_no_checkpoint_is_chosen_on_the_held_out_tail():
    """Every evaluation counts as the newest best: picking by held-out MASE would report a
    number chosen on the test."""
    from textrnn_forecast.config import ForecastConfig
    from textrnn_forecast.task import ForecastTask

    task = ForecastTask(ForecastConfig())
    assert task.improved({"valid_mase": 2.0}, {"valid_mase": 1.0})
    assert not task.improved({"valid_mase": float("nan")}, {"valid_mase": 1.0})

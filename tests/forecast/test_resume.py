"""Forecast crash safety: SIGKILL after a step, between an evaluation and its save, and
half-way through a save, each followed by ``--resume``, ends bitwise identical to an
uninterrupted run with the same seed (as tests/cli/test_classifier_resume.py).

The kills are chained (each resume is itself killed at the next point) so the suite pays
for four processes. Dropout is on and batches are drawn from (seed, step), so the resumed
run must restore the RNG, the optimizer and the schedule exactly.
"""

from __future__ import annotations

import signal

from tests.cli.helpers import checkpoint_snapshot, train_in_subprocess

from .helpers import seasonal_csv

ARGS = ["--horizon", "6", "--hidden-size", "8", "--max-steps", "20", "--eval-every", "6", "--batch-size", "8",
        "--dropout", "0.3", "--seed", "13", "--threads", "1", "--device", "cpu"]


def train(data, out, *extra, fault=None):
    return train_in_subprocess("forecast", data, out, *ARGS, *extra, fault=fault)


def test_sigkill_at_three_points_then_resume_is_bitwise_identical(tmp_path):
    data = seasonal_csv(tmp_path / "sales.csv", n=60)
    reference = train(data, tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr
    expected = checkpoint_snapshot(tmp_path / "reference")
    assert {"step-00000018", "step-00000020"} <= set(expected)

    run = tmp_path / "run"
    for fault, resume in (("step:9", False), ("after-eval:12", True), ("mid-save:18", True)):
        killed = train(data, run, *(["--resume"] if resume else []), fault=fault)
        assert killed.returncode == -signal.SIGKILL, (fault, killed.stderr)
    resumed = train(data, run, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    got = checkpoint_snapshot(run)
    assert got["best.json"] == expected["best.json"]
    for name in expected:
        assert got[name] == expected[name], f"{name} differs from the uninterrupted run"

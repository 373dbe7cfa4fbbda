"""The learning-rate schedule and --time-budget, seen where users see them: the ``lr`` of each
``"kind": "train"`` record in metrics.jsonl, and the elapsed time in run.json.

The schedule is linear warm-up, then cosine decay (Loshchilov & Hutter 2017, no restarts) to
``min_lr_ratio`` of the peak, or a constant rate. Under a time budget the planned step count is
re-fitted to the pace of the run, so the decay ends as the budget does.
"""

from __future__ import annotations

import json
import math

import pytest

from tests.conftest import english_like

from .helpers import TINY, run_cli

PEAK, WARMUP, FLOOR = 0.01, 4, 0.1  # FLOOR is not the default min_lr_ratio, so ignoring it shows
BUDGET = 2.0  # seconds


def expected_lr(index: int, total: int | None, schedule: str) -> float:
    """The schedule's rate at 0-based step ``index`` of ``total`` planned steps."""
    if index < WARMUP:
        return PEAK * (index + 1) / WARMUP
    if schedule == "constant":
        return PEAK
    progress = min(1.0, (index - WARMUP) / max(1, total - WARMUP))
    return PEAK * (FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * progress)))


def records(run, kind: str) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("schedule") / "corpus.txt"
    path.write_text(english_like(20_000, seed=3), encoding="utf-8")
    return path


def train(corpus, run, *extra):
    result = run_cli("train", "lm", corpus, "--out", run, *TINY, "--num-layers", "1", "--sampling", "fixed",
                     "--lr", str(PEAK), "--warmup-steps", str(WARMUP), "--min-lr-ratio", str(FLOOR),
                     "--log-every", "1", *extra)
    assert result.exit_code == 0, (result.stderr, result.exception)
    return records(run, "train")


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_every_step_logs_the_rate_of_its_schedule(corpus, tmp_path, schedule):
    steps = 20
    logged = train(corpus, tmp_path / "run", "--schedule", schedule, "--max-steps", str(steps))
    assert [r["step"] for r in logged] == list(range(1, steps + 1))
    want = [expected_lr(i, steps, schedule) for i in range(steps)]
    assert [r["lr"] for r in logged] == pytest.approx(want, rel=1e-9)
    assert logged[0]["lr"] == pytest.approx(PEAK / WARMUP) and max(r["lr"] for r in logged) == pytest.approx(PEAK)
    if schedule == "cosine":  # decays all the way: the last step is within 1 % of the floor's distance
        assert logged[-1]["lr"] < PEAK * (FLOOR + 0.01 * (1 - FLOOR))
        assert all(a["lr"] > b["lr"] for a, b in zip(logged[WARMUP:], logged[WARMUP + 1:]))


def test_time_budget_stops_on_time_and_the_decay_ends_with_it(corpus, tmp_path):
    run = tmp_path / "run"
    # --max-steps only keeps a run that ignored its budget from running for minutes; no evaluation
    # before the end (each one saves a checkpoint, which would take most of so short a budget)
    logged = train(corpus, run, "--schedule", "cosine", "--time-budget", str(BUDGET), "--max-steps", "20000",
                   "--eval-every", "20000")
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "finished" and meta["steps"] == logged[-1]["step"] < 20_000
    # It stops at the first step past the budget; what follows is one evaluation and a save.
    assert BUDGET <= meta["elapsed"] < 1.75 * BUDGET, meta["elapsed"]
    assert logged[-1]["time"] > 0.9 * BUDGET
    assert logged[0]["lr"] == pytest.approx(PEAK / WARMUP)
    # The planned steps follow the pace, so the cosine is near its floor as the budget runs out
    # (within a quarter of its range: a busy machine's pace wavers)...
    assert logged[-1]["lr"] < PEAK * (FLOOR + 0.25 * (1 - FLOOR)), logged[-1]
    # ...and not long before: at 60 % of the budget (cosine: 35 % of the range left) it is well inside it.
    later = min(logged, key=lambda r: abs(r["time"] - 0.6 * BUDGET))
    assert PEAK * (FLOOR + 0.05 * (1 - FLOOR)) < later["lr"] < PEAK * (1 - 0.1 * (1 - FLOOR)), later


def test_the_classifier_logs_the_same_schedule(tmp_path):
    from .test_classifier_cli import TINY as CLASSIFIER, rows, write_tsv

    data = write_tsv(tmp_path / "train.tsv", rows(160, seed=1))
    steps, warmup = 20, 12  # a classifier logs every 10 steps: step 10 is in the warm-up, step 20 decays
    result = run_cli("train", "classifier", data, "--valid", data, "--out", tmp_path / "run", *CLASSIFIER,
                     "--lr", str(PEAK), "--warmup-steps", str(warmup), "--min-lr-ratio", str(FLOOR),
                     "--schedule", "cosine", "--max-steps", str(steps), "--ema", "0")
    assert result.exit_code == 0, (result.stderr, result.exception)
    logged = records(tmp_path / "run", "train")
    assert [r["step"] for r in logged] == [10, 20]
    progress = (19 - warmup) / (steps - warmup)
    want = [PEAK * 10 / warmup, PEAK * (FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * progress)))]
    assert [r["lr"] for r in logged] == pytest.approx(want, rel=1e-9)

"""When a language-model run evaluates, and on how much of the validation text."""

from __future__ import annotations

from textrnn.training.config import TrainConfig
from textrnn.training.loop import train as train_run
from textrnn.training.progress_log import EVAL_EVERY, EvalCadence


def due_steps(cadence, times):
    return [step for step, elapsed in enumerate(times, start=1) if cadence.due(step, elapsed)]


def test_a_time_budget_alone_evaluates_at_each_quarter():
    times = [i * 0.5 for i in range(1, 200)]  # 99.5 s in half-second steps
    assert due_steps(EvalCadence(None, 100.0), times) == [50, 100, 150]  # 25 s, 50 s, 75 s (the end is separate)


def test_steps_rule_when_given_or_without_a_budget():
    times = [float(i) for i in range(1, 600)]
    assert due_steps(EvalCadence(7, 100.0), times)[:3] == [7, 14, 21]
    assert due_steps(EvalCadence(None, None), times) == [EVAL_EVERY, 2 * EVAL_EVERY]


def test_in_training_evaluation_reads_a_bounded_prefix(small_corpus, tmp_path):
    events = []
    train_run("lm", TrainConfig(corpus=[str(small_corpus)], max_steps=4, eval_every=2, eval_tokens=500, batch_size=4,
                          seq_len=16), tmp_path / "run", on_event=events.append)
    said = [e.metrics.get("text", "") for e in events if e.kind == "message"]
    assert any("first 500 of" in line for line in said)
    assert len([e for e in events if e.kind == "eval"]) == 2

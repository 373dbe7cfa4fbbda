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


def test_a_time_budget_skips_evaluations_it_cannot_afford():
    cadence = EvalCadence(None, 100.0)  # evaluation may take 5 s of it
    assert cadence.due(25, 25.0) and cadence.affordable()
    cadence.note_cost(3.0)  # one more at this cost would make 6 s
    assert cadence.due(50, 50.0) and not cadence.affordable()
    cheap = EvalCadence(None, 100.0)
    for elapsed in (25.0, 50.0, 75.0):
        assert cheap.due(int(elapsed), elapsed) and cheap.affordable()
        cheap.note_cost(1.0)
    assert EvalCadence(7, 100.0).affordable()  # --eval-every: the user's cadence, whatever it costs


def test_a_run_whose_marks_only_checkpoint_still_scores_its_last_step(small_corpus, tmp_path, monkeypatch):
    import json

    from textrnn.training import progress_log

    monkeypatch.setattr(progress_log, "EVAL_SHARE", -1.0)  # no evaluation is ever affordable at a mark
    train_run("lm", TrainConfig(corpus=[str(small_corpus)], time_budget=2.0, batch_size=4, seq_len=16,
                                model_options={"hidden_size": 16, "embedding_dim": 8, "num_layers": 1}),
              tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    last_step = max(r["step"] for r in records)
    assert [r["step"] for r in records if r["kind"] == "eval"] == [last_step]
    assert json.loads((tmp_path / "run" / "best.json").read_text())["step"] == last_step

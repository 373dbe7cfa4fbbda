"""train -> evaluate -> generate through the CLI, on tmp_path."""

from __future__ import annotations

import json

from .helpers import TINY, assert_error, run_cli


def test_train_evaluate_generate(small_corpus, tmp_path):
    run = tmp_path / "run"
    result = run_cli("train", "lm", small_corpus, "--out", run, "--max-steps", "30", "--eval-every", "15", *TINY,
                     "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["steps"] == 30
    assert 0 < summary["valid"]["bits_per_char"] < 8
    assert "parameters" in result.stderr and "device cpu" in result.stderr
    for name in ("run.json", "config.json", "metrics.jsonl", "best.json", "tokenizer/tokenizer.json"):
        assert (run / name).exists(), name
    assert list((run / "checkpoints").glob("step-*/model.safetensors"))

    result = run_cli("evaluate", run, "--json")
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert set(metrics) == {"loss", "perplexity", "bits_per_token", "bits_per_char", "tokens", "chars"}
    assert metrics == summary["valid"]  # evaluate on the run's own validation text = what train reported

    other = tmp_path / "other.txt"
    other.write_text("the cat sat on the mat.\n", encoding="utf-8")
    result = run_cli("evaluate", run, other, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["chars"] == len("the cat sat on the mat.\n")

    first = run_cli("generate", run, "--prompt", "the ", "--max-tokens", "40", "--seed", "7")
    again = run_cli("generate", run, "--prompt", "the ", "--max-tokens", "40", "--seed", "7")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == again.stdout and first.stdout.startswith("the ")
    assert len(first.stdout) >= 40

    result = run_cli("generate", run, "--num-samples", "3", "--max-tokens", "20", "--seed", "1", "--json")
    samples = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["sample"] for s in samples] == [0, 1, 2]


def test_existing_run_needs_resume_or_overwrite(small_corpus, tmp_path):
    run = tmp_path / "run"
    args = ("train", "lm", small_corpus, "--out", run, "--max-steps", "4", "--eval-every", "4", *TINY)
    assert run_cli(*args).exit_code == 0
    assert_error(run_cli(*args), "--resume", "--overwrite")
    assert run_cli(*args, "--overwrite").exit_code == 0


def test_python_api(small_corpus, tmp_path):
    import textrnn

    run = tmp_path / "run"
    assert run_cli("train", "lm", small_corpus, "--out", run, "--max-steps", "10", "--eval-every", "10", *TINY).exit_code == 0
    loaded = textrnn.load(run)
    scored = loaded.score("the dog ran to the river.\n")
    assert scored["chars"] == 26 and scored["perplexity"] > 1
    text = loaded.generate(prompt="the", max_tokens=15, seed=3)[0]
    assert len(text) == 15


def test_score_whole_text_and_per_line(small_corpus, tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "lm", small_corpus, "--out", run, "--max-steps", "6", "--eval-every", "6", *TINY).exit_code == 0
    import textrnn

    text = "the cat sat.\nthe dog ran to a tree.\n"
    whole = run_cli("score", run, "--text", text)
    assert whole.exit_code == 0, whole.stderr
    assert json.loads(whole.stdout) == textrnn.load(run).score(text)
    per_line = run_cli("score", run, "-", "--per-line", input=text)
    rows = [json.loads(line) for line in per_line.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2] and rows[1]["chars"] == len("the dog ran to a tree.\n")
    assert_error(run_cli("score", run, small_corpus, "--text", "x"), "either FILE or --text")

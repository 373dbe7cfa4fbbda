"""`train classifier` with options left to the data: --print-config, the stored config and --resume."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from tests.conftest import shared_corpus

from .helpers import run_cli

SIZES = ["--embedding-dim", "8", "--hidden-size", "8", "--threads", "1"]  # not data-driven: small for speed


def labelled_tsv(path: Path, n: int) -> Path:
    rng = random.Random(5)
    lines = ["label\ttext"]
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = [rng.choice(["the", "film", "was", "a", "plot"]) for _ in range(5)]
        words.insert(2, rng.choice(["good", "great"] if label == "pos" else ["bad", "dull"]))
        lines.append(f"{label}\t{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def header(result) -> dict[str, str]:
    """``name: 'value  (source)'`` from the comment lines --print-config starts with."""
    found = {}
    for line in result.stdout.splitlines():
        if line.startswith("# ") and " = " in line:
            name, rest = line[2:].split(" = ", 1)
            found[name] = rest
    return found


def test_print_config_shows_each_resolved_value_with_its_source():
    result = run_cli("train", "classifier", "--print-config")  # the embedded 2,000-row sample
    assert result.exit_code == 0, result.stderr
    notes = header(result)
    assert result.stdout.startswith("# defaults for 1,800 training texts")
    assert notes["model"].startswith("'bigru'  (") and notes["tokenizer"].startswith("'unigram'  (")
    assert notes["epochs"].startswith("16.0  (8 at SST-2's 6,920 texts, times sqrt(6,920 / 1,800)")
    assert notes["tokenizer_options.vocab_size"].startswith("326  (256 byte pieces")
    assert notes["model_options.pooling"].startswith("'attention'  (measured best on SST-2")
    body = result.stdout
    for line in ('model = "bigru"', "epochs = 16.0", "ema = 0.99", "token_dropout = 0.2", "vocab_size = 326",
                 'pooling = "attention"'):
        assert f"\n{line}\n" in body, line


def test_print_config_flags_win_and_are_not_listed_as_defaults():
    result = run_cli("train", "classifier", "--print-config", "--epochs", "3", "--model", "bilstm",
                     "--vocab-size", "300", "--pooling", "max", "--ema", "0")
    assert result.exit_code == 0, result.stderr
    notes = header(result)
    for name in ("epochs", "model", "tokenizer_options.vocab_size", "model_options.pooling", "ema"):
        assert name not in notes, name
    for line in ("epochs = 3.0", 'model = "bilstm"', "vocab_size = 300", 'pooling = "max"', "ema = 0.0"):
        assert f"\n{line}\n" in result.stdout, line
    assert "tokenizer" in notes  # still from the data


def test_the_run_stores_resolved_values_and_resumes_without_any_flag(tmp_path):
    data = labelled_tsv(tmp_path / "train.tsv", 60)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def train(*extra, fault=""):
        return subprocess.run([sys.executable, "-m", "textrnn", "train", "classifier", str(data), "--out", str(run),
                               *extra], env={**env, "TEXTRNN_FAULT": fault}, capture_output=True, text=True,
                              timeout=300)

    # --epochs keeps the run short (the default here is 40); it is a flag the resume must not need either
    killed = train(*SIZES, "--epochs", "3", fault="step:3")
    assert killed.returncode != 0 and "eval_every = 2  (once per epoch)" in killed.stderr
    stored = json.loads((run / "config.json").read_text())
    # 54 training texts: 2 batches an epoch, evaluated once an epoch; warm-up a tenth of 6 steps
    assert {k: stored[k] for k in ("model", "tokenizer", "epochs", "eval_every", "warmup_steps", "ema",
                                   "token_dropout")} == \
        {"model": "bigru", "tokenizer": "unigram", "epochs": 3.0, "eval_every": 2, "warmup_steps": 1,
         "ema": 0.99, "token_dropout": 0.2}
    assert stored["tokenizer_options"]["vocab_size"] > 256
    resumed = train("--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "defaults for" not in resumed.stderr and "resuming" in resumed.stderr
    assert json.loads((run / "config.json").read_text()) == stored
    summary = json.loads((run / "run.json").read_text())
    assert summary["status"] == "finished" and summary["model"] == "bigru"
    assert summary["model_options"]["hidden_size"] == 8  # the first run's flag, not repeated
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 6


def test_defaults_train_on_twenty_long_reviews(tmp_path):
    """A vocabulary from 20 reviews' distinct words is one sentencepiece can build."""
    imdb_tiny = shared_corpus("imdb-tiny", "train.tsv")  # skips when ../shared is absent
    result = run_cli("train", "classifier", imdb_tiny, "--out", tmp_path / "run", "--max-steps", "2", *SIZES)
    assert result.exit_code == 0, result.stderr
    assert "tokenizer_options.vocab_size = " in result.stderr
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["tokenizer"]["type"] == "unigram" and 256 < meta["vocab_size"] < 1339

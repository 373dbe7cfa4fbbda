"""xlstm through the textrnn CLI: train, generate, score, and resume bit for bit."""

from __future__ import annotations

import json
import random
import shutil

import pytest
from typer.testing import CliRunner

from textrnn.cli import app

TRAIN = ["--model", "xlstm", "--max-steps", "6", "--eval-every", "3", "--keep-last", "5", "--batch-size", "4",
         "--seq-len", "24", "--sample-tokens", "0", "--embedding-dim", "16", "--num-layers", "2", "--dropout", "0.1",
         "--model-option", "num_heads=2", "--model-option", "chunk_size=7", "--seed", "3"]


def cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("xlstm")
    words = "the a memory of matrix gate forget input state chunk step token".split()
    rng = random.Random(0)
    corpus = root / "corpus.txt"
    corpus.write_text(" ".join(rng.choice(words) for _ in range(4000)) + "\n", encoding="utf-8")
    result = cli("train", "lm", corpus, "--out", root / "run", *TRAIN, "--json")
    return corpus, root / "run", json.loads(result.stdout.splitlines()[-1])


def test_trains_generates_and_scores(trained):
    corpus, run, summary = trained
    assert summary["steps"] == 6
    meta = json.loads((run / "run.json").read_text())
    assert meta["model"] == "xlstm" and meta["model_options"]["chunk_size"] == 7
    sample = cli("generate", run, "--prompt", "the ", "--max-tokens", "12", "--seed", "1").stdout
    assert sample.startswith("the ") and len(sample.rstrip("\n")) == len("the ") + 12
    scored = json.loads(cli("score", run, "--text", "the memory of the gate").stdout)
    assert scored["tokens"] > 0 and 0 < scored["loss"] < 10


def test_resume_from_a_checkpoint_is_bitwise_identical(trained, tmp_path):
    # the carried (C, n, m, conv) state, the weights, the optimizer and the RNGs all come back
    corpus, run, _ = trained
    resumed = tmp_path / "run"
    shutil.copytree(run, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step-00000006")
    result = cli("train", "lm", corpus, "--out", resumed, *TRAIN, "--resume")
    assert "from step-00000003 (step 3)" in result.stderr  # resumed, not started over
    final = "checkpoints/step-00000006/model.safetensors"
    assert (resumed / final).read_bytes() == (run / final).read_bytes()

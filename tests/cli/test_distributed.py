"""DistributedDataParallel on CPU (gloo), launched by torchrun as users launch it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import english_like

# fp32: on an AMX CPU the default is bf16, whose rounding turns the different summation
# order of two ranks into loss differences far above float32 noise
ARGS = ["--max-steps", "20", "--eval-every", "10", "--log-every", "1", "--batch-size", "8", "--seq-len", "32",
        "--hidden-size", "32", "--embedding-dim", "16", "--sample-tokens", "0", "--seed", "1", "--precision", "fp32"]
# Dropout draws differ between one process and two, so the loss comparison runs without it;
# the resume test keeps it on, so each rank's own dropout RNG must be restored.
NO_DROPOUT = ["--dropout", "0", "--model-option", "embedding_dropout=0", "--model-option", "output_dropout=0"]
DROPOUT = ["--dropout", "0.2", "--model-option", "embedding_dropout=0.1", "--model-option", "output_dropout=0.1"]


# A model whose ranks draw different amounts of randomness (as data-dependent dropout would), so
# that their RNG states part: every rank seeds alike, and with a plain model all ranks' RNG
# states stay equal, so restoring rank 0's state on every rank would pass unseen.
RANK_DRAW_PLUGIN = '''
import os

import textrnn
from textrnn.registry import get_model
from textrnn_recurrent import RecurrentLMOptions


def build(vocab_size, options):
    import torch

    class RankDraw(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = get_model("lstm", task="lm").factory(vocab_size, options)

        def forward(self, ids, state=None):
            if self.training:
                torch.rand(1 + int(os.environ.get("RANK", "0")))  # rank r draws r + 1 numbers a step
            return self.inner(ids, state)

    return RankDraw()


@textrnn.hookimpl
def register_models(register):
    register("rankdraw", build, task="lm", options=RecurrentLMOptions, description="lstm; ranks draw unlike")
'''


def train(corpus, out, *extra, nproc=1, fault=None, env=None):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"] \
        if nproc > 1 else [sys.executable]
    env = {**os.environ, "TEXTRNN_FAULT": fault or "", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([*launcher, "-m", "textrnn", "train", "lm", str(corpus), "--out", str(out), *ARGS, *extra,
                           "--cache-dir", str(out.parent / "cache")], env=env, capture_output=True, text=True,
                          timeout=300)


def losses(run):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if '"train"' in line]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "corpus.txt"
    path.write_text(english_like(40_000, seed=2), encoding="utf-8")
    return path


def test_two_processes_match_one_with_the_same_global_batch(corpus, tmp_path):
    single = train(corpus, tmp_path / "single", *NO_DROPOUT)
    assert single.returncode == 0, single.stderr
    double = train(corpus, tmp_path / "ddp", *NO_DROPOUT, nproc=2)
    assert double.returncode == 0, double.stderr
    one, two = losses(tmp_path / "single"), losses(tmp_path / "ddp")
    assert len(one) == len(two) == 20
    assert max(abs(a - b) for a, b in zip(one, two)) < 1e-5


@pytest.mark.parametrize("sampling", ["streams", "random"])
def test_killed_rank_resumes_from_last_checkpoint(corpus, tmp_path, sampling):
    mode = ["--sampling", sampling, *DROPOUT]
    clean = train(corpus, tmp_path / "clean", *mode, nproc=2)
    assert clean.returncode == 0, clean.stderr
    killed = train(corpus, tmp_path / "run", *mode, nproc=2, fault="step:15@1")
    assert killed.returncode != 0
    assert f"exitcode  : {-signal.SIGKILL}" in killed.stderr or "SIGKILL" in killed.stderr
    resumed = train(corpus, tmp_path / "run", "--resume", nproc=2)  # the stored config: no flag repeated
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "(step 10)" in resumed.stderr
    final = "checkpoints/step-00000020/model.safetensors"
    assert (tmp_path / "run" / final).read_bytes() == (tmp_path / "clean" / final).read_bytes()


CLASSIFIER_ARGS = ["--max-steps", "12", "--eval-every", "6", "--log-every", "1", "--batch-size", "16", "--seed", "3",
                   "--tokenizer", "word", "--embedding-dim", "16", "--hidden-size", "16", "--dropout", "0",
                   "--embedding-dropout", "0", "--token-dropout", "0", "--threads", "1"]


def train_classifier(data, out, *extra, nproc=1, fault=None):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"] \
        if nproc > 1 else [sys.executable]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TEXTRNN_FAULT": fault or ""}
    args = extra if "--resume" in extra else [*CLASSIFIER_ARGS, *extra]
    return subprocess.run([*launcher, "-m", "textrnn", "train", "classifier", str(data), "--out", str(out), *args],
                          env=env, capture_output=True, text=True, timeout=300)


def test_classifier_two_processes_match_one_with_the_same_global_batch(tmp_path):
    """Each process trains on half of every batch of 16; DDP's averaged gradient is the whole batch's."""
    from tests.unit.test_classifier import synthetic_sentiment, write_tsv

    data = write_tsv(tmp_path / "train.tsv", synthetic_sentiment(400, seed=5))
    single = train_classifier(data, tmp_path / "single")
    assert single.returncode == 0, single.stderr
    double = train_classifier(data, tmp_path / "ddp", nproc=2)
    assert double.returncode == 0, double.stderr
    one, two = losses(tmp_path / "single"), losses(tmp_path / "ddp")
    assert len(one) == len(two) == 12
    assert max(abs(a - b) for a, b in zip(one, two)) < 1e-5
    assert "valid accuracy" in double.stdout or "accuracy" in double.stdout


def test_each_rank_resumes_its_own_dropout_rng(corpus, tmp_path):
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "rank_draw_model.py").write_text(RANK_DRAW_PLUGIN, encoding="utf-8")
    env = {"TEXTRNN_PLUGINS": "rank_draw_model",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(plugin), os.environ.get("PYTHONPATH")]))}
    mode = ["--model", "rankdraw", "--sampling", "streams", *DROPOUT]
    clean = train(corpus, tmp_path / "clean", *mode, nproc=2, env=env)
    assert clean.returncode == 0, clean.stderr
    # not vacuous: the two ranks' dropout RNG states differ, so each must get its own back
    rng = load_file(tmp_path / "clean" / "checkpoints" / "step-00000010" / "rng.safetensors")["rank_torch"]
    assert rng.shape[0] == 2 and not torch.equal(rng[0], rng[1])
    killed = train(corpus, tmp_path / "run", *mode, nproc=2, fault="step:15@1", env=env)
    assert killed.returncode != 0
    resumed = train(corpus, tmp_path / "run", "--resume", "--model", "rankdraw", nproc=2, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "(step 10)" in resumed.stderr
    final = "checkpoints/step-00000020/model.safetensors"
    assert (tmp_path / "run" / final).read_bytes() == (tmp_path / "clean" / final).read_bytes()


def test_classifier_killed_rank_resumes_bitwise(tmp_path):
    """Two processes, dropout and token dropout on, rank 1 killed at step 9: the resumed run ends bit for bit
    where the unbroken one does."""
    from tests.unit.test_classifier import synthetic_sentiment, write_tsv

    data = write_tsv(tmp_path / "train.tsv", synthetic_sentiment(400, seed=5))
    noisy = ["--dropout", "0.2", "--embedding-dropout", "0.1", "--token-dropout", "0.1"]
    clean = train_classifier(data, tmp_path / "clean", *noisy, nproc=2)
    assert clean.returncode == 0, clean.stderr
    killed = train_classifier(data, tmp_path / "run", *noisy, nproc=2, fault="step:9@1")
    assert killed.returncode != 0
    resumed = train_classifier(data, tmp_path / "run", "--resume", nproc=2)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "(step 6," in resumed.stderr
    final = "checkpoints/step-00000012/model.safetensors"
    assert (tmp_path / "run" / final).read_bytes() == (tmp_path / "clean" / final).read_bytes()

"""Crash safety: SIGKILL at any point, then --resume, ends bitwise identical to a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import english_like

ARGS = ["--max-steps", "24", "--eval-every", "8", "--hidden-size", "32", "--embedding-dim", "16",
        "--num-layers", "2", "--dropout", "0.2", "--model-option", "embedding_dropout=0.1", "--batch-size", "8",
        "--seq-len", "32", "--sample-tokens", "0", "--seed", "5", "--keep-last", "5"]


def train(corpus, out, *extra, fault=None, check=True):
    env = {**os.environ, "TEXTRNN_FAULT": fault or ""}
    result = subprocess.run([sys.executable, "-m", "textrnn", "train", "lm", str(corpus), "--out", str(out), *ARGS,
                             *extra], env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def final_weights(run):
    return (run / "checkpoints" / "step-00000024" / "model.safetensors").read_bytes()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    corpus = root / "corpus.txt"
    corpus.write_text(english_like(30_000, seed=4), encoding="utf-8")
    train(corpus, root / "run")
    return corpus, final_weights(root / "run")


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory):
    """A corpus so short that 24 steps cross an epoch boundary: each mode's new epoch is resumed too."""
    root = tmp_path_factory.mktemp("small")
    corpus = root / "corpus.txt"
    corpus.write_text(english_like(6_000, seed=4), encoding="utf-8")
    return corpus, {mode: _reference_weights(corpus, root / mode, mode) for mode in ("streams", "random")}


def _reference_weights(corpus, run, mode):
    train(corpus, run, "--sampling", mode)
    return final_weights(run)


@pytest.mark.parametrize("mode", ["streams", "random"])
def test_sigkill_then_resume_is_bitwise_identical_in_every_sampling_mode(small_reference, tmp_path, mode):
    corpus, expected = small_reference
    run = tmp_path / "run"
    killed = train(corpus, run, "--sampling", mode, fault="step:23", check=False)
    assert killed.returncode == -signal.SIGKILL
    resumed = train(corpus, run, "--resume")  # without --sampling: the stored config supplies it
    assert "resuming" in resumed.stderr and "(step 16)" in resumed.stderr
    assert final_weights(run) == expected[mode]


@pytest.mark.parametrize("fault", ["step:13", "after-eval:16", "mid-save:16"])
def test_sigkill_then_resume_is_bitwise_identical(reference, tmp_path, fault):
    corpus, expected = reference
    run = tmp_path / "run"
    killed = train(corpus, run, fault=fault, check=False)
    assert killed.returncode == -signal.SIGKILL
    if fault == "step:13":  # the same command again must not start over silently
        again = train(corpus, run, check=False)
        assert again.returncode == 1 and "--resume" in again.stderr
    resumed = train(corpus, run, "--resume")
    assert "resuming" in resumed.stderr
    assert final_weights(run) == expected


# The scan-trained families carry other states: hawk's is (h, the convolution's last inputs),
# a 4-D tensor among them. mingru's (h,) is the LSTM's case again, so it runs with -m slow.
@pytest.mark.parametrize("model", ["hawk", pytest.param("mingru", marks=pytest.mark.slow)])
def test_scan_family_resumes_bitwise_identical(tmp_path, model):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(english_like(30_000, seed=4), encoding="utf-8")
    train(corpus, tmp_path / "clean", "--model", model)
    run = tmp_path / "run"
    killed = train(corpus, run, "--model", model, fault="after-eval:16", check=False)
    assert killed.returncode == -signal.SIGKILL
    resumed = train(corpus, run, "--model", model, "--resume")
    assert "resuming" in resumed.stderr
    assert final_weights(run) == final_weights(tmp_path / "clean")


def test_sigterm_saves_and_exits_143(reference, tmp_path):
    corpus, expected = reference
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "textrnn", "train", "lm", str(corpus), "--out", str(run),
                             *ARGS, "--max-steps", "100000", "--eval-every", "100000"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "metrics.jsonl").exists():
        time.sleep(0.2)  # the first logged step proves the loop is running
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "checkpoint saved to" in stderr
    from textrnn.training.checkpoint import load_latest

    found, notes = load_latest(run)
    assert found is not None and notes == []
    assert "Traceback" not in stderr

"""Classifier crash safety: SIGKILL mid-epoch, between an evaluation and its save, and during
a save, each followed by the same command with --resume, ends bitwise identical to an
uninterrupted run with the same seed.

Mirrors tests/cli/test_resume.py for ``textrnn train classifier``. To keep the suite fast
the three kills are chained in one run (each resume is itself killed at the next point,
then the last one finishes), which also checks that a resumed run resumes again exactly.
The run crosses epoch boundaries after the first crash (7 batches per epoch) and uses
dropout, token dropout, gradual unfreezing and early-stopping state (monitor loss,
patience), so the resumed run must restore the RNG, the data cursor (the epoch's bucket
order), the frozen layer groups, the optimizer and the best/bad-evaluation record exactly.
Every checkpoint (6, 12, 18, 20), the best one (18 with this seed) and best.json must
match the reference byte for byte.
"""

from __future__ import annotations

import random
import signal

from .helpers import assert_error, checkpoint_snapshot, run_cli, train_in_subprocess

GOOD = ["good", "great", "superb", "lovely"]
BAD = ["bad", "awful", "dull", "boring"]
FILLER = ["the", "film", "was", "plot", "and", "a", "movie", "quite", "story"]
ARGS = ["--max-steps", "20", "--eval-every", "6", "--embedding-dim", "8", "--hidden-size", "8",
        "--batch-size", "16", "--dropout", "0.3", "--embedding-dropout", "0.1", "--token-dropout", "0.1",
        "--gradual-unfreeze", "--patience", "50", "--monitor", "loss", "--warmup-steps", "3", "--lr", "0.1",
        "--seed", "13", "--keep-last", "10", "--threads", "1"]


def labelled_tsv(path, n: int = 120, seed: int = 3):
    rng = random.Random(seed)
    lines = ["label\ttext"]
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 9))]
        words.insert(rng.randint(0, len(words)), rng.choice(GOOD if label == "pos" else BAD))
        lines.append(f"{label}\t{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train(data, out, *extra, fault=None):
    return train_in_subprocess("classifier", data, out, *ARGS, *extra, fault=fault)


def test_sigkill_at_three_points_then_resume_is_bitwise_identical(tmp_path):
    data = labelled_tsv(tmp_path / "train.tsv")
    reference = train(data, tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr
    expected = checkpoint_snapshot(tmp_path / "reference")
    assert sorted(expected) == ["best.json", "step-00000006", "step-00000012", "step-00000018", "step-00000020"]

    run = tmp_path / "run"
    # (fault, how the command that gets killed started, checkpoints complete after the kill)
    chain = [("step:9", None, ["step-00000006"]),  # mid-epoch 1, after the step-6 checkpoint
             ("after-eval:12", 6, ["step-00000006"]),  # evaluated at 12, killed before saving it
             ("mid-save:18", 6, ["step-00000006", "step-00000012"])]  # killed half-way through writing 18
    for fault, resumed_from, complete in chain:
        killed = train(data, run, *(["--resume"] if resumed_from else []), fault=fault)
        assert killed.returncode == -signal.SIGKILL, (fault, killed.stderr)
        if resumed_from:
            assert f"(step {resumed_from}," in killed.stderr, killed.stderr
        assert sorted(p.name for p in (run / "checkpoints").glob("step-*")) == complete, fault
    assert list((run / "checkpoints").glob(".tmp-step-00000018-*")), "mid-save left no partial checkpoint"

    # the same command without --resume must not start over silently (in-process: it fails before training)
    assert_error(run_cli("train", "classifier", data, "--out", run, *ARGS), "--resume")
    resumed = train(data, run, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "(step 12," in resumed.stderr, resumed.stderr
    got = checkpoint_snapshot(run)
    assert got["best.json"] == expected["best.json"]
    for name in expected:
        assert got[name] == expected[name], f"{name} differs from the uninterrupted run"


def test_ema_weights_resume_exactly_and_are_what_the_run_serves(tmp_path):
    """--ema: the averaged weights are checkpointed beside the raw ones, restored on resume
    (bitwise, like everything else), and are the weights that ``textrnn.load`` serves."""
    import torch

    import textrnn
    from textrnn.training import checkpoint as ckpt

    data = labelled_tsv(tmp_path / "train.tsv")
    reference = train(data, tmp_path / "reference", "--ema", "0.9")
    assert reference.returncode == 0, reference.stderr
    killed = train(data, tmp_path / "run", "--ema", "0.9", fault="step:9")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = train(data, tmp_path / "run", "--ema", "0.9", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    for name in ("step-00000012", "step-00000020"):
        for group in ("ema", "model"):
            file = f"checkpoints/{name}/{group}.safetensors"
            assert (tmp_path / "run" / file).read_bytes() == (tmp_path / "reference" / file).read_bytes(), file

    best = ckpt.load_checkpoint(ckpt.best_checkpoint(tmp_path / "reference"))
    averaged, raw = best.tensors("ema"), best.tensors("model")
    assert any(not torch.equal(averaged[k], raw[k]) for k in raw), "the average never differed from the raw weights"
    served = textrnn.load(tmp_path / "reference").model.state_dict()
    for key, value in averaged.items():
        assert torch.equal(served[key], value), key

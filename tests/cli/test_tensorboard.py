"""`--tensorboard`: a clear error before training when tensorboard is missing; scalars when present."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest

from .helpers import TINY, assert_error, run_cli


def test_missing_tensorboard_fails_before_training(small_corpus, tmp_path, monkeypatch):
    if importlib.util.find_spec("tensorboard") is not None:
        monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # behave as if it were absent
    for task, data in (("lm", small_corpus), ("classifier", None)):
        run = tmp_path / task
        args = [data] if data else []
        result = run_cli("train", task, *args, "--out", run, "--max-steps", "2", "--tensorboard")
        assert_error(result, "tensorboard", "pip install tensorboard")
        assert not run.exists()  # nothing was trained or written


class FakeWriter:
    """Stands in for torch.utils.tensorboard.SummaryWriter and remembers what it was given."""

    instances: list["FakeWriter"] = []

    def __init__(self, log_dir, purge_step=None):
        self.log_dir, self.purge_step, self.scalars, self.closed = log_dir, purge_step, [], False
        FakeWriter.instances.append(self)

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def flush(self):
        pass

    def close(self):
        self.closed = True


def test_tensorboard_listener_logs_scalars(small_corpus, tmp_path, monkeypatch):
    pytest.importorskip("torch.utils")
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    FakeWriter.instances = []
    run = tmp_path / "run"
    result = run_cli("train", "lm", small_corpus, "--out", run, "--max-steps", "4", "--eval-every", "2",
                     "--log-every", "2", "--tensorboard", *TINY)
    assert result.exit_code == 0, result.stderr
    (writer,) = FakeWriter.instances
    assert writer.log_dir == str(run / "tensorboard") and writer.purge_step is None and writer.closed
    tags = {(tag, step) for tag, _, step in writer.scalars}
    assert {("train/loss", 2), ("train/lr", 4), ("valid/loss", 2), ("valid/loss", 4), ("valid/bpc", 4)} <= tags
    assert not any(tag.endswith(("/time", "/epoch")) for tag, _ in tags)

"""The tokenizer's process pool: it never hangs, and a worker that dies or fails gives one
clear error. (A fork-based pool once hung after writing every chunk.)"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from textrnn.data import worker_pool
from textrnn.data.lm_data import encode_stream
from textrnn.errors import WorkerError
from textrnn.tokenizers import save_tokenizer, train_tokenizer

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 8


def double_or_die(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
    return 2 * x


def double_or_raise(x: int) -> int:
    if x == 3:
        raise ValueError("cannot encode item 3")
    return 2 * x


def hang(x: int) -> int:
    time.sleep(3600)


def test_the_pool_path_runs_many_times_without_hanging(tmp_path):
    tokenizer = train_tokenizer("char", [TEXT])
    tokenizer_dir = tmp_path / "tokenizer"
    save_tokenizer(tokenizer, tokenizer_dir)
    chunks = [(i % 2, TEXT[i * 40:(i + 1) * 40]) for i in range(len(TEXT) // 40)]
    expected = [np.concatenate([np.asarray(tokenizer.encode(c), "<u2") for p, c in chunks if p == part])
                for part in (0, 1)]
    started = time.monotonic()
    for attempt in range(30):
        paths = [tmp_path / f"train-{attempt}.bin", tmp_path / f"valid-{attempt}.bin"]
        stats = encode_stream(iter(chunks), tokenizer, np.dtype("<u2"), paths, workers=2, tokenizer_dir=tokenizer_dir)
        for part in (0, 1):
            assert np.array_equal(np.fromfile(paths[part], dtype="<u2"), expected[part]), attempt
            assert stats[part]["tokens"] == len(expected[part])
    assert time.monotonic() - started < 120  # a hang would stop here long before pytest's own limits


def test_the_pool_starts_workers_from_a_clean_process():
    assert worker_pool.start_method() in ("forkserver", "spawn")  # never fork from a threaded parent


def test_a_killed_worker_is_one_clear_error():
    with pytest.raises(WorkerError, match=r"a test worker process died \(killed by SIGKILL; out of memory\?\)"):
        list(worker_pool.ordered_map(double_or_die, ((i, i) for i in range(8)), 2, what="a test worker"))


def test_a_worker_that_raises_is_one_clear_error():
    results = worker_pool.ordered_map(double_or_raise, ((i, i) for i in range(8)), 2, what="a test worker")
    assert [next(results) for _ in range(3)] == [(0, 0), (1, 2), (2, 4)]  # in order, up to the failure
    with pytest.raises(WorkerError, match="a test worker failed: ValueError: cannot encode item 3"):
        next(results)


def test_a_worker_that_hangs_is_stopped_within_bounds(monkeypatch):
    monkeypatch.setattr(worker_pool, "RESULT_TIMEOUT_S", 1.0)
    monkeypatch.setattr(worker_pool, "JOIN_TIMEOUT_S", 0.5)
    started = time.monotonic()
    with pytest.raises(WorkerError, match="gave no result in 1 s"):
        list(worker_pool.ordered_map(hang, ((i, i) for i in range(2)), 2, what="a test worker"))
    assert time.monotonic() - started < 8  # 1 s waiting for a result, 0.5 s for the exit, then a kill

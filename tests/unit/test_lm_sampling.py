"""The data orders of textrnn.data.lm_sampling: fixed, streams and random."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textrnn.data.lm_sampling import Cursor, DeviceSampler, WindowSampler
from textrnn.errors import CorpusError

TOKENS = np.arange(10_007, dtype=np.int64)  # token i is i: a batch shows exactly where it was read


def read(sampler, steps, cursor=None):
    cursor = cursor or Cursor()
    batches = []
    for _ in range(steps):
        batch, cursor = sampler.next(cursor)
        batches.append(batch)
    return batches, cursor


def test_fixed_streams_are_the_same_every_epoch_and_contiguous():
    sampler = WindowSampler(TOKENS, "fixed", batch_size=4, seq_len=50, seed=0)
    per_epoch = sampler.windows_per_epoch
    batches, _ = read(sampler, 2 * per_epoch)
    first, second = batches[:per_epoch], batches[per_epoch:]
    assert all(torch.equal(a.inputs, b.inputs) for a, b in zip(first, second))
    assert [b.reset_state for b in first] == [True] + [False] * (per_epoch - 1)
    for a, b in zip(first, first[1:]):  # each window continues where the last one stopped
        assert torch.equal(a.targets[:, -1], b.inputs[:, 0])
    assert torch.equal(first[0].inputs[:, 0], torch.arange(4) * sampler.stream_len)


def test_streams_move_every_epoch_and_vary_the_window_length():
    sampler = WindowSampler(TOKENS, "streams", batch_size=4, seq_len=50, seed=0)
    batches, cursor = read(sampler, 400)
    assert cursor.epoch >= 5
    starts = {int(b.inputs[0, 0]) for b in batches if b.reset_state}
    assert len(starts) == cursor.epoch + 1  # a new offset each epoch
    lengths = np.array([b.inputs.shape[1] for b in batches])
    assert len(set(lengths)) > 5 and abs(lengths.mean() - 50) < 5
    assert (lengths < 35).any()  # AWD-LSTM's occasional half-length window
    assert all(b.lr_scale == b.inputs.shape[1] / 50 for b in batches)
    for a, b in zip(batches, batches[1:]):
        if not b.reset_state:
            assert torch.equal((a.targets[:, -1]), b.inputs[:, 0])  # contiguous within an epoch
        assert torch.equal(b.targets[:, :-1], b.inputs[:, 1:])
        assert torch.equal(b.targets[:, -1], (b.inputs[:, -1] + 1) % len(TOKENS))  # wraps at the corpus end


def test_random_windows_are_independent_and_start_from_zero_state():
    sampler = WindowSampler(TOKENS, "random", batch_size=16, seq_len=50, seed=0)
    batches, _ = read(sampler, 20)
    assert all(b.reset_state and b.lr_scale == 1.0 for b in batches)
    starts = torch.stack([b.inputs[:, 0] for b in batches])
    assert len(set(starts.flatten().tolist())) > 300  # not the same rows again
    assert all(torch.equal(b.targets, b.inputs + 1) for b in batches)  # no window wraps


@pytest.mark.parametrize("mode", ["fixed", "streams", "random"])
def test_a_saved_cursor_resumes_the_exact_order(mode):
    sampler = WindowSampler(TOKENS, mode, batch_size=4, seq_len=50, seed=7)
    straight, _ = read(sampler, 120)
    head, cursor = read(sampler, 57)
    again = WindowSampler(TOKENS, mode, batch_size=4, seq_len=50, seed=7)  # a new process
    tail, _ = read(again, 63, Cursor.from_dict(cursor.to_dict()))
    for a, b in zip(straight, head + tail):
        assert torch.equal(a.inputs, b.inputs) and a.reset_state == b.reset_state and a.lr_scale == b.lr_scale


@pytest.mark.parametrize("mode", ["fixed", "streams", "random"])
def test_ranks_read_disjoint_rows_of_the_same_global_batch(mode):
    whole, _ = read(WindowSampler(TOKENS, mode, batch_size=6, seq_len=40, seed=3), 30)
    parts = [read(WindowSampler(TOKENS, mode, batch_size=6, seq_len=40, seed=3, rank=r, world_size=3), 30)[0]
             for r in range(3)]
    for step, batch in enumerate(whole):
        assert torch.equal(torch.cat([p[step].inputs for p in parts]), batch.inputs)


def test_seeds_change_the_order():
    a, _ = read(WindowSampler(TOKENS, "random", batch_size=4, seq_len=50, seed=1), 3)
    b, _ = read(WindowSampler(TOKENS, "random", batch_size=4, seq_len=50, seed=2), 3)
    assert not torch.equal(a[0].inputs, b[0].inputs)


def test_device_sampler_on_the_cpu_hands_out_the_samplers_batches():
    sampler = WindowSampler(TOKENS, "streams", batch_size=4, seq_len=50, seed=0)
    on_device = DeviceSampler(sampler, torch.device("cpu"))
    assert on_device.mode == "host"
    ours, _ = read(on_device, 10)
    theirs, _ = read(sampler, 10)
    assert all(torch.equal(a.inputs, b.inputs) for a, b in zip(ours, theirs))


def test_text_too_short_for_one_window_is_a_corpus_error():
    with pytest.raises(CorpusError, match="too short"):
        WindowSampler(np.arange(100), "fixed", batch_size=4, seq_len=50, seed=0)
    with pytest.raises(CorpusError, match="divisible"):
        WindowSampler(TOKENS, "fixed", batch_size=5, seq_len=50, seed=0, world_size=2)

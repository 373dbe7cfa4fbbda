"""DeferredLog: on CUDA a training-loss record is read one interval late, never lost or reordered."""

from __future__ import annotations

import torch

from textrnn.training.progress_log import DeferredLog


def test_deferred_records_arrive_one_interval_late_and_on_flush():
    written = []
    log = DeferredLog(True, lambda step, loss, fields: written.append((step, loss, fields["lr"])))
    log.add(10, torch.tensor(2.5), lr=0.1)
    assert written == []  # not read yet: reading would wait for the GPU
    log.add(20, torch.tensor(2.0), lr=0.2)
    assert written == [(10, 2.5, 0.1)]
    log.flush()
    log.flush()
    assert written == [(10, 2.5, 0.1), (20, 2.0, 0.2)]


def test_records_are_written_at_once_when_not_deferred():
    written = []
    log = DeferredLog(False, lambda step, loss, fields: written.append((step, loss)))
    log.add(5, torch.tensor(1.5))
    assert written == [(5, 1.5)]

"""Fault injection for crash tests.

``TEXTRNN_FAULT=POINT:STEP`` makes the process SIGKILL itself when it reaches POINT at
STEP, as a power cut would; ``POINT:STEP@RANK`` does so only in that torchrun rank. Points: ``step`` (right after an optimizer step),
``after-eval`` (after an evaluation, before its checkpoint is written) and ``mid-save``
(half-way through writing a checkpoint). Unset in normal use; read once at import.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("TEXTRNN_FAULT", "")


def maybe_crash(point: str, step: int) -> None:
    if not _SPEC:
        return
    where, _, rank = _SPEC.partition("@")
    if where == f"{point}:{step}" and (not rank or rank == os.environ.get("RANK", "0")):
        os.kill(os.getpid(), signal.SIGKILL)

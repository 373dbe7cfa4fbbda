"""Fault injection for crash tests.

``TEXTRNN_FAULT=POINT:STEP`` makes the process SIGKILL itself when it reaches POINT at
STEP, as a power cut would. Points: ``step`` (right after an optimizer step),
``after-eval`` (after an evaluation, before its checkpoint is written) and ``mid-save``
(half-way through writing a checkpoint). Unset in normal use; read once at import.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("TEXTRNN_FAULT", "")


def maybe_crash(point: str, step: int) -> None:
    if _SPEC and _SPEC == f"{point}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)

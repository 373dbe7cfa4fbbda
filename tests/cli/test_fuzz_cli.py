"""CLI-level fuzzing: a file of random bytes given to ``textrnn train`` in a real process.

The library-level fuzzing is in tests/unit/test_fuzz_inputs.py (fast, in-process); these
few cases run the installed command, so a crash in native code (a segmentation fault in
a reader, say) or a stray log line would show here: the exit code is 0 or 1, never a
signal, and stderr never holds a traceback. On failure there is exactly one ``Error:``
line and nothing else but that line.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

LM = ["--max-steps", "2", "--eval-every", "2", "--hidden-size", "16", "--embedding-dim", "8", "--num-layers", "1",
      "--batch-size", "4", "--seq-len", "16", "--sample-tokens", "0"]
CLASSIFIER = ["--max-steps", "2", "--embedding-dim", "8", "--hidden-size", "8", "--batch-size", "8", "--threads", "1"]


def random_bytes(seed: int, size: int, newline_every: int = 40, low: int = 1, high: int = 256) -> bytes:
    rng = random.Random(seed)
    data = bytearray(rng.randrange(low, high) for _ in range(size))  # no NUL: not refused as binary at once
    for i in range(0, size, newline_every):
        data[i] = 0x0A
    return bytes(data)


@pytest.mark.parametrize("task, suffix, content, extra", [
    ("lm", ".txt", random_bytes(1, 8_000) + "valid tail ünïcödé\n".encode() * 20, ["--encoding-errors", "replace"]),
    # printable ASCII after a null first row, which used to kill the process in pyarrow (SIGSEGV)
    ("classifier", ".jsonl", b"null\n" + random_bytes(2, 2_000, low=32, high=127), []),
], ids=["lm-txt-replace", "classifier-jsonl"])
def test_random_bytes_to_train_exit_0_or_1_without_traceback(tmp_path, task, suffix, content, extra):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(content)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TEXTRNN_FAULT": ""}
    args = LM if task == "lm" else CLASSIFIER
    result = subprocess.run([sys.executable, "-m", "textrnn", "train", task, str(path), "--out", str(tmp_path / "run"),
                             *args, *extra], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    if result.returncode == 1:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert path.name in lines[0]
    if task == "lm":
        assert result.returncode == 0, result.stderr  # with --encoding-errors replace, any bytes are text

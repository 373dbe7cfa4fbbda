"""Run the CLI in-process and check the one-line error contract."""

from __future__ import annotations

from typer.testing import CliRunner

from textrnn.cli import app


def run_cli(*args: str, input: str | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def assert_error(result, *fragments: str) -> None:
    """Exit code 1, exactly one ``Error: ...`` line naming the fragments, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr, result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


TINY = ["--hidden-size", "32", "--embedding-dim", "16", "--num-layers", "1", "--batch-size", "8",
        "--seq-len", "32", "--sample-tokens", "0"]


def train_in_subprocess(task: str, data, out, *args: str, fault: str | None = None):
    """``python -m textrnn train TASK DATA --out OUT ARGS`` in a fresh process (one thread),
    which ``fault`` (``TEXTRNN_FAULT``) may SIGKILL part-way, as a power cut would."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TEXTRNN_FAULT": fault or "", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "textrnn", "train", task, str(data), "--out", str(out), *args],
                          env=env, capture_output=True, text=True, timeout=300)


def checkpoint_snapshot(run) -> dict:
    """Every checkpoint's model.safetensors bytes, plus best.json."""
    import json

    found = {path.name: (path / "model.safetensors").read_bytes()
             for path in sorted((run / "checkpoints").glob("step-*"))}
    found["best.json"] = json.loads((run / "best.json").read_text())
    return found

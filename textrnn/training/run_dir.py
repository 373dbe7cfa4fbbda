"""The run directory: what a training run leaves behind, as plain JSON and safetensors.

::

    RUN/run.json          task, model, plugin and versions, tokenizer fingerprint, status
    RUN/config.json       the resolved TrainConfig
    RUN/config.toml       the same as TOML, to train again with ``--config``
    RUN/tokenizer/        the stored tokenizer (tokenizer.json + files)
    RUN/checkpoints/step-*/  weights, optimizer, RNG and data state, each checksummed
    RUN/best.json         which checkpoint scored best on validation
    RUN/metrics.jsonl     one JSON object per logged step and per evaluation
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ..atomic import atomic_write, atomic_write_json
from ..errors import RunError

RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
CONFIG_TOML = "config.toml"
METRICS_FILE = "metrics.jsonl"
TOKENIZER_DIR = "tokenizer"
FORMAT_VERSION = 1
# Names textrnn writes; --overwrite removes only these, never a user's other files.
OWNED = (RUN_FILE, CONFIG_FILE, CONFIG_TOML, METRICS_FILE, TOKENIZER_DIR, "checkpoints", "best.json", "tensorboard")


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON; a reader or a crash never sees half a file."""
    atomic_write_json(path, data)


def write_config(run_dir: Path, config: dict[str, Any], task: str) -> None:
    """Store the resolved config as config.json and as config.toml (which ``--config`` reads)."""
    from ..config_files import write_config_toml

    write_json_atomic(run_dir / CONFIG_FILE, config)
    header = f"Resolved config of this run. Train again with: textrnn train {task} --config {CONFIG_TOML}"
    write_config_toml(run_dir / CONFIG_TOML, config, header=header)


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path.parent} is not a textrnn run ({path.name} is missing)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} ({what}) is corrupt: {exc}") from None


def read_run_meta(run_dir: Path) -> dict[str, Any]:
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run directory")
    meta = read_json(run_dir / RUN_FILE, "run metadata")
    if meta.get("format") != FORMAT_VERSION:
        raise RunError(f"{run_dir}: unsupported run format {meta.get('format')!r} (this textrnn reads {FORMAT_VERSION})")
    return meta


def is_run(run_dir: Path) -> bool:
    return (run_dir / RUN_FILE).exists()


def prepare(run_dir: Path, resume: bool, overwrite: bool) -> bool:
    """Make ``run_dir`` ready; returns True when an existing run is to be resumed.

    Never starts over silently: an existing run needs ``--resume`` or ``--overwrite``.
    """
    if resume and overwrite:
        raise RunError("--resume and --overwrite contradict each other; pick one")
    if is_run(run_dir):
        if resume:
            return True
        if not overwrite:
            raise RunError(f"{run_dir} already holds a run; pass --resume to continue it or --overwrite to start over")
        for name in OWNED:
            target = run_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    elif resume:
        raise RunError(f"nothing to resume: {run_dir} holds no run")
    elif run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        raise RunError(f"{run_dir} exists and is not empty; choose a new --out or pass --overwrite")
    run_dir.mkdir(parents=True, exist_ok=True)
    return False


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / METRICS_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def truncate_metrics(run_dir: Path, last_step: int) -> None:
    """On resume, drop log lines written after the checkpoint we resume from."""
    path = run_dir / METRICS_FILE
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= last_step]
    atomic_write(path, "".join(line + "\n" for line in kept))


def set_status(run_dir: Path, status: str, **extra: Any) -> None:
    meta = read_json(run_dir / RUN_FILE, "run metadata")
    meta.update(status=status, **extra)
    write_json_atomic(run_dir / RUN_FILE, meta)


def record_exit(run_dir: Path, status: str, **extra: Any) -> None:
    """Record how training ended: ``status`` plus, for a failure, the error that caused it.

    Called from the trainers' ``finally``; while an exception propagates there,
    ``sys.exc_info()`` names it. A second Ctrl-C (KeyboardInterrupt) counts as interrupted.
    """
    error = sys.exc_info()[1] if status == "failed" else None
    if isinstance(error, KeyboardInterrupt):
        status, error = "interrupted", None
    reason = f"{type(error).__name__}: {error}".splitlines()[0][:500] if error is not None else None
    set_status(run_dir, status, error=reason, ended=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra)

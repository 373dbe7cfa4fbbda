"""The study directory: ``study.json`` plus one ordinary run directory per trial.

::

    DIR/study.json          what the study is (space, sampler, seed, budget), the evaluation
                            cadence, and every trial: values, status, metric, history, steps,
                            wall time, error. Rewritten atomically whenever a trial starts or ends.
    DIR/trial-000/          an ordinary textrnn run (``textrnn evaluate DIR/trial-000`` works)
    DIR/logs/trial-000.json the spec the trial process was started with
    DIR/logs/trial-000.log  the trial process's output
    DIR/best.toml           the best finished trial's config, for ``textrnn train ... --config``
    DIR/params.png          the validation metric against each searched value

Trial status is one of ``pending``, ``running``, ``finished``, ``pruned`` or ``failed``.
A study found with trials still ``running`` was stopped or killed; running the same
command again resumes those trials from their last checkpoint.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from .. import __version__
from ..errors import RunError
from ..training import run_dir as rd

STUDY_FILE = "study.json"
LOCK_FILE = ".tune.lock"
LOGS_DIR = "logs"
BEST_FILE = "best.toml"
PLOT_FILE = "params.png"
FORMAT_VERSION = 1
DONE = ("finished", "pruned", "failed")
_TRIAL_DIR = re.compile(r"trial-\d+")


def trial_name(number: int) -> str:
    return f"trial-{number:03d}"


class Study:
    """A study's state, as held in ``DIR/study.json``."""

    def __init__(self, root: Path, data: dict[str, Any]):
        self.root = Path(root)
        self.data = data

    @property
    def trials(self) -> list[dict[str, Any]]:
        return self.data["trials"]

    @property
    def eval_every(self) -> int | None:
        return self.data.get("eval_every")

    @eval_every.setter
    def eval_every(self, value: int | None) -> None:
        self.data["eval_every"] = value

    @classmethod
    def open(cls, root: str | Path, identity: dict[str, Any], overwrite: bool = False) -> "Study":
        """Continue the study in ``root`` or start one there.

        Refuses a directory that holds a different study (another space, sampler, seed
        or budget) or other files, unless ``overwrite``: then textrnn's own files go.
        """
        root = Path(root)
        path = root / STUDY_FILE
        if path.exists() and not overwrite:
            data = rd.read_json(path, "study state")
            if data.get("format") != FORMAT_VERSION:
                raise RunError(f"{path}: unsupported study format {data.get('format')!r} "
                               f"(this textrnn reads {FORMAT_VERSION})")
            changed = _differences(data.get("identity", {}), identity)
            if changed:
                raise RunError(f"{root} holds a study with a different {', '.join(changed)}; use another --out, "
                               "or pass --overwrite to delete that study and start over")
            return cls(root, data)
        if overwrite:
            remove_study(root)
        elif root.exists() and any(p.name != LOCK_FILE for p in root.iterdir()):
            raise RunError(f"{root} exists and is not a study; choose a new --out or pass --overwrite")
        root.mkdir(parents=True, exist_ok=True)
        study = cls(root, {"format": FORMAT_VERSION, "textrnn_version": __version__, "identity": identity,
                           "created": _now(), "eval_every": None, "trials": []})
        study.save()
        return study

    def extend(self, params: list[dict[str, Any]]) -> None:
        """Make the study's trials ``params``: new ones are appended, existing ones must match."""
        stored = [t["params"] for t in self.trials]
        if params[: len(stored)] != stored:
            if stored[: len(params)] == params:
                raise RunError(f"{self.root} already has {len(stored)} trials; pass --trials {len(stored)} or more "
                               "to continue it")
            raise RunError(f"the trials drawn for this command differ from those in {self.root / STUDY_FILE} "
                           "(a grid subset changes with --trials); use the original --trials, another --out, "
                           "or --overwrite")
        for number in range(len(stored), len(params)):
            self.trials.append({
                "number": number, "name": trial_name(number), "params": params[number], "status": "pending",
                "metric": None, "history": [], "steps": None, "wall_time": 0.0, "error": None,
                "pruned_at_step": None, "config": None, "device": None, "pid": None, "attempts": 0,
            })
        self.save()

    def save(self) -> None:
        """Write ``study.json`` atomically (temp file, fsync, rename): a kill never leaves half a file."""
        self.data["updated"] = _now()
        rd.write_json_atomic(self.root / STUDY_FILE, self.data)

    def run_dir(self, trial: dict[str, Any]) -> Path:
        return self.root / trial["name"]

    def log_path(self, trial: dict[str, Any], suffix: str) -> Path:
        return self.root / LOGS_DIR / f"{trial['name']}{suffix}"


def remove_study(root: Path) -> None:
    """Delete what ``textrnn tune`` wrote in ``root``, never other files."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.name in (STUDY_FILE, BEST_FILE, PLOT_FILE, LOGS_DIR) or (
                entry.is_dir() and _TRIAL_DIR.fullmatch(entry.name)):
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


@contextlib.contextmanager
def study_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the study, so two ``tune`` commands never drive the same trials.

    The kernel drops the lock when the process dies, however it dies.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    with open(root / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(f"another `textrnn tune` is working on {root}; wait for it or stop it first") from None
        yield


def _differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    found = []
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            if key in ("task", "fixed", "search"):
                found.append(f"space ({key})")
            else:
                found.append(f"{key} ({saved.get(key)!r} -> {current.get(key)!r})")
    return found


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

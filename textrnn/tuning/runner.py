"""Runs a study's trials as ``python -m textrnn.tuning.trial`` subprocesses, watches them, and prunes.

Why subprocesses rather than trainers in this process: a trial that crashes (a
segfault, running out of memory, a bug in a plugin) takes only itself down; a trial's
memory is given back when it ends; and ``--parallel K`` is K processes, each pinned to
its own GPU or its share of the CPU threads. Each trial costs one interpreter start
(about 2-3 s with torch), which is small next to a training budget.

The runner learns of each evaluation from the ``eval`` records the trainer appends to
the trial's ``metrics.jsonl``. To stop a trial it sends SIGTERM: the trial's
``stop_requested`` callable (the same signal flag ``textrnn train`` uses) makes the
trainer save a checkpoint and stop at the next step boundary. A trial process whose
tune dies notices that its parent is gone and stops the same way.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, IO

from ..errors import ConfigError, TrainingInterrupted
from ..training import run_dir as rd
from .pruning import Verdict, best_so_far, should_prune
from .space import SearchSpace
from .study import DONE, LOGS_DIR, Study

TARGET_EVALS = 8  # evaluations per trial when tune picks eval_every: enough for the median rule to act
ORPHAN_WAIT_S = 120.0  # how long to wait for a trial process left behind by a killed tune
TRIAL_MODULE = "textrnn.tuning.trial"  # each trial runs as `python -m textrnn.tuning.trial SPEC`


@dataclass
class TuneEvent:
    """Something that happened in a study; the CLI renders these.

    ``kind`` is ``start``, ``pruned``, ``end`` or ``message``. ``trial`` is the trial's
    record (as in ``study.json``), or None for a message about the study.
    """

    kind: str
    trial: dict[str, Any] | None = None
    text: str = ""
    verdict: Verdict | None = None


@dataclass(frozen=True)
class Slot:
    """Where one of the ``--parallel`` trials runs.

    :param device: the trial config's device (None: the space's own).
    :param threads: CPU threads for the trial's torch (None: torch's choice).
    :param gpu: the one GPU the trial process may see (its CUDA_VISIBLE_DEVICES entry), or None.
    """

    index: int
    device: str | None = None
    threads: int | None = None
    gpu: str | None = None

    @property
    def label(self) -> str | None:
        return f"cuda:{self.gpu}" if self.gpu is not None else self.device


def plan_slots(parallel: int, device: str | None) -> tuple[list[Slot], str | None]:
    """One slot per concurrent trial, and a note on how they share the machine.

    With CUDA GPUs each slot gets GPU i in turn (more trials than GPUs share them). A
    trial process is shown only its GPU (CUDA_VISIBLE_DEVICES), where it is ``cuda``:
    then nothing in it can touch, or put a CUDA context on, another trial's GPU. On a
    CPU each of the K trials gets cores // K threads, since K processes that each use
    every core mostly wait on each other.
    """
    if parallel < 1:
        raise ConfigError(f"--parallel must be at least 1, got {parallel}")
    if parallel == 1:
        return [Slot(0)], None
    device = device or "auto"
    if device in ("auto", "cuda"):
        gpus = _cuda_devices()
        if gpus:
            visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
            ids = visible[:gpus] if len(visible) >= gpus else [str(i) for i in range(gpus)]
            note = f"{parallel} trials at once on {gpus} GPU(s)"
            if parallel > gpus:
                note += "; trials share GPUs"
            return [Slot(i, "cuda", gpu=ids[i % gpus]) for i in range(parallel)], note
    if device in ("auto", "cpu"):
        threads = max(1, _cpu_cores() // parallel)
        return ([Slot(i, "cpu" if device == "cpu" else None, threads) for i in range(parallel)],
                f"{parallel} trials at once on the CPU, {threads} thread(s) each")
    return [Slot(i, None) for i in range(parallel)], f"{parallel} trials at once, all on {device}"


@dataclass
class _Active:
    trial: dict[str, Any]
    slot: Slot
    proc: subprocess.Popen
    log: IO[str]
    log_start: int
    started: float
    judged: int = 0
    metrics_size: int = -1
    prune_requested: bool = False
    history: list = field(default_factory=list)


class StudyRunner:
    """Runs every unfinished trial of ``study``; ``run()`` returns when all are done."""

    def __init__(self, study: Study, space: SearchSpace, *, budget: float | None, slots: list[Slot],
                 prune: bool = True, prune_warmup: int = 2,
                 on_event: Callable[[TuneEvent], None] | None = None,
                 stop_requested: Callable[[], int | None] | None = None,
                 poll_s: float = 0.2, python: str = sys.executable):
        if prune_warmup < 0:
            raise ConfigError(f"--prune-warmup must be >= 0, got {prune_warmup}")
        self.study = study
        self.space = space
        self.budget = budget
        self.slots = slots
        self.prune = prune
        self.prune_warmup = prune_warmup
        self._on_event = on_event
        self._stop_requested = stop_requested or (lambda: None)
        self.poll_s = poll_s
        self.python = python
        self._pick_cadence()

    def emit(self, kind: str, trial: dict | None = None, text: str = "", verdict: Verdict | None = None) -> None:
        if self._on_event is not None:
            self._on_event(TuneEvent(kind, trial, text, verdict))

    # -- evaluation cadence ---------------------------------------------------------
    def _pick_cadence(self) -> None:
        """Choose eval_every, unless the space sets or searches it.

        The median rule needs several evaluations per trial at steps that line up
        across trials. With a fixed max_steps that is max_steps / 8. With a time budget
        the step count is unknown until a trial has run: the trials started before the
        first one finishes use the trainer's default, and the rest use 1/8 of the
        steps that first trial took (kept in study.json, so a resumed study agrees).
        """
        self._told_too_short = False
        searched = {p.field for p in self.space.params if p.section is None}
        self._cadence_free = "eval_every" not in set(self.space.fixed) | searched
        max_steps = self.space.fixed.get("max_steps")
        if self._cadence_free and self.study.eval_every is None and isinstance(max_steps, int) \
                and max_steps >= TARGET_EVALS:
            self.study.eval_every = max_steps // TARGET_EVALS
            self.study.save()

    def _calibrate(self, trial: dict) -> None:
        if not (self._cadence_free and self.study.eval_every is None and trial["status"] == "finished"
                and trial["steps"]):
            return
        every = trial["steps"] // TARGET_EVALS
        if every < 1:  # evaluations would crowd out training; such trials are too short to prune anyway
            if not self._told_too_short:
                self._told_too_short = True
                self.emit("message", text=f"{trial['name']} took only {trial['steps']} steps, too few to evaluate "
                                          "in between; give a larger budget or set eval_every for pruning to act")
            return
        self.study.eval_every = every
        self.emit("message", text=f"evaluating every {every} steps from now on "
                                  f"({trial['name']} took {trial['steps']} steps)")

    def trial_config(self, trial: dict) -> dict[str, Any]:
        config = self.space.config_for(trial["params"])
        if self.budget is not None:
            config["time_budget"] = self.budget
        if self._cadence_free and self.study.eval_every is not None:
            config["eval_every"] = self.study.eval_every
        return config

    # -- the loop -----------------------------------------------------------------
    def run(self) -> None:
        queue = [t for t in self.study.trials if t["status"] not in DONE]
        free = list(self.slots)
        active: dict[int, _Active] = {}
        try:
            while queue or active:
                signum = self._stop_requested()
                if signum:
                    raise TrainingInterrupted(f"tuning stopped by signal {signum}; the running trials saved a "
                                              "checkpoint; run the same command again to continue", None, signum)
                while queue and free:
                    trial = queue.pop(0)
                    active[trial["number"]] = self._start(trial, free.pop(0))
                for number, run in list(active.items()):
                    self._watch(run)
                    if run.proc.poll() is not None:
                        self._finish(run)
                        del active[number]
                        free.append(run.slot)
                        free.sort(key=lambda s: s.index)
                if active:
                    time.sleep(self.poll_s)
        finally:
            if active:
                self._abandon(list(active.values()))

    def _start(self, trial: dict, slot: Slot) -> _Active:
        run_dir = self.study.run_dir(trial)
        if trial["status"] == "running":
            self._wait_for_orphan(trial)
        config = dict(trial["config"] or self.trial_config(trial))
        if slot.device is not None:
            config["device"] = slot.device
        trial.update(config=config, device=slot.label or config.get("device", "auto"), pruned_at_step=None)
        logs = self.study.root / LOGS_DIR
        logs.mkdir(exist_ok=True)
        spec_path = self.study.log_path(trial, ".json")
        rd.write_json_atomic(spec_path, {"task": self.space.task, "config": config, "run_dir": str(run_dir),
                                         "threads": slot.threads, "parent_pid": os.getpid()})
        log = open(self.study.log_path(trial, ".log"), "a", encoding="utf-8")
        log.write(f"--- {trial['name']} attempt {trial['attempts'] + 1}: {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        log.flush()
        env = dict(os.environ)
        if slot.threads:
            for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env[name] = str(slot.threads)
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.gpu
        # A session of its own: a Ctrl-C at the terminal reaches tune, which stops each trial once.
        proc = subprocess.Popen([self.python, "-m", TRIAL_MODULE, str(spec_path)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        trial.update(status="running", pid=proc.pid, attempts=trial["attempts"] + 1, started=_now())
        self.study.save()
        self.emit("start", trial)
        return _Active(trial, slot, proc, log, log.tell(), time.monotonic())

    def _watch(self, run: _Active) -> None:
        """Read the trial's new evaluations and apply the median rule to each."""
        path = self.study.run_dir(run.trial) / rd.METRICS_FILE
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size == run.metrics_size:
            return
        run.metrics_size = size
        run.history = read_history(path, self.space.metric)
        run.trial["history"] = run.history
        if not self.prune or run.proc.poll() is not None:
            return  # a trial that has already ended ran its course: nothing left to save by stopping it
        while run.judged < len(run.history) and not run.prune_requested:
            run.judged += 1
            # Failed trials are no yardstick: a diverging run's last evaluations are not a level to meet.
            others = [t["history"] for t in self.study.trials
                      if t is not run.trial and t["status"] != "failed" and t["history"]]
            verdict = should_prune(run.history[: run.judged], others, minimize=self.space.minimize,
                                   warmup=self.prune_warmup)
            if verdict:
                run.prune_requested = True
                run.trial["pruned_at_step"] = verdict.step
                run.proc.send_signal(signal.SIGTERM)  # if it ends on its own before this lands, the verdict stands
                self.emit("pruned", run.trial, verdict=verdict)

    def _finish(self, run: _Active) -> None:
        trial, code = run.trial, run.proc.returncode
        run.log.close()
        run_dir = self.study.run_dir(trial)
        history = read_history(run_dir / rd.METRICS_FILE, self.space.metric)
        trial.update(history=history, metric=best_so_far(history, self.space.minimize), steps=_steps(run_dir),
                     wall_time=round(trial["wall_time"] + time.monotonic() - run.started, 3), pid=None,
                     ended=_now())
        if run.prune_requested:
            trial.update(status="pruned", error=None)
        elif code == 0:
            trial.update(status="finished", error=None)
        else:  # its evaluations stay in the history, but a failed run has no result to rank
            trial.update(status="failed", metric=None,
                         error=_error(self.study.log_path(trial, ".log"), run.log_start, code))
        self._calibrate(trial)
        self.study.save()
        self.emit("end", trial)

    def _abandon(self, runs: list[_Active]) -> None:
        """Stop running trials (tune itself is stopping); each saves a checkpoint and stays ``running``."""
        for run in runs:
            if run.proc.poll() is None:
                run.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        for run in runs:
            try:
                run.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                run.proc.kill()
                run.proc.wait()
            run.log.close()
            run.trial.update(pid=None, wall_time=round(run.trial["wall_time"] + time.monotonic() - run.started, 3))
        self.study.save()

    def _wait_for_orphan(self, trial: dict) -> None:
        """A killed tune leaves its trial processes running until they notice; wait for them to stop."""
        pid = trial.get("pid")
        if not pid or not _is_trial_process(pid):
            return
        self.emit("message", trial, f"waiting for {trial['name']}'s process {pid}, left by a stopped tune, to save "
                                    "and exit")
        deadline = time.monotonic() + ORPHAN_WAIT_S
        while _is_trial_process(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _is_trial_process(pid):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)


def read_history(path: Path, metric: str) -> list[list[float]]:
    """``[[step, value], ...]`` from the eval records of a metrics.jsonl (non-finite values become None)."""
    history = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return history
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # a line being written right now
            continue
        if record.get("kind") == "eval" and metric in record:
            value = record[metric]
            history.append([record["step"], value if isinstance(value, (int, float)) and math.isfinite(value)
                            else None])
    return history


def _steps(run_dir: Path) -> int | None:
    try:
        steps = rd.read_json(run_dir / rd.RUN_FILE, "run metadata").get("steps")
    except Exception:
        steps = None
    if steps is None:
        steps = max((r[0] for r in read_history(run_dir / rd.METRICS_FILE, "step")), default=None)
    return steps


def _error(log_path: Path, start: int, code: int) -> str:
    """The trial's ``Error: ...`` line, or the best description of how it died."""
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            f.seek(start)
            lines = [line.strip() for line in f.read().splitlines() if line.strip()]
    except OSError:
        lines = []
    for line in reversed(lines):
        if line.startswith("Error: "):
            return line[len("Error: "):]
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"the trial process was killed by {name}"
    return f"exit code {code}" + (f": {lines[-1]}" if lines else "")


def _is_trial_process(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # the pid may have been reused by something else since
        try:
            return TRIAL_MODULE.encode() in cmdline.read_bytes()
        except OSError:
            return False
    return True


def _cuda_devices() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

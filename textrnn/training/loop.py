"""The one training loop: every task (``lm``, ``classifier``, a plugin's) trains here.

The loop owns what is not task-specific: the run directory and the resume check, the
step, epoch and time-budget plan, precision and autocast, DDP, clipping, EMA, the
compiled model, evaluation cadence, patience and best tracking, checkpoints, signals,
``record_exit`` and the summary. The task (:class:`textrnn.training.task.Task`)
supplies data, loss and metrics.

The library never prints: progress goes to ``on_event`` and to plugins'
``on_training_event`` hook, and the CLI renders it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import random
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from .. import __version__, distributed
from ..devices import autocast_dtype, resolve_device, resolve_precision
from ..errors import ConfigError, RunError, TrainingDiverged, TrainingInterrupted
from ..events import TrainingEvent
from ..faults import maybe_crash
from ..plugins import get_plugin_manager
from ..registry import TaskInfo, get_task, tasks
from ..tokenizers import save_tokenizer
from . import checkpoint as ckpt
from . import run_dir as rd
from .compiled import CompiledOrEager
from .progress_log import DeferredLog, EvalCadence
from .schedule import learning_rate
from .task import RunContext, Task

REPLAN_AFTER = 20  # steps measured before a time budget is turned into a step plan


def train(task: str | TaskInfo, config, run_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
          on_event: Callable[[TrainingEvent], None] | None = None,
          stop_requested: Callable[[], int | None] | None = None) -> dict:
    """Train one run of ``task`` with ``config`` into ``run_dir``; returns the final summary."""
    info = get_task(task) if isinstance(task, str) else task
    return TrainingLoop(info, config, run_dir, resume=resume, overwrite=overwrite, on_event=on_event,
                        stop_requested=stop_requested).run()


def seed_all(seed: int) -> None:
    """Seed torch, numpy and random: a task calls this right before it builds its model."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


@dataclasses.dataclass
class Progress:
    """The counters a checkpoint stores and a resume restores."""

    step: int = 0
    best: dict | None = None  # the best evaluation so far
    bad_evals: int = 0
    planned: int | None = None  # the step count the schedule decays over
    elapsed_before: float = 0.0  # seconds trained before this process (resumed runs)


class TrainingLoop:
    """Trains one run of a task; :meth:`run` returns the final summary."""

    def __init__(self, info: TaskInfo, config, run_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
                 on_event: Callable[[TrainingEvent], None] | None = None,
                 stop_requested: Callable[[], int | None] | None = None):
        self.info = info
        self.config = config
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.overwrite = overwrite
        self._on_event = on_event
        self._stop_requested = stop_requested or (lambda: None)
        self._hook = get_plugin_manager().hook.on_training_event
        self.dist = distributed.from_env()
        self.progress = Progress()

    # -- events -------------------------------------------------------------
    def emit(self, kind: str, step: int, **metrics) -> None:
        if not self.dist.is_main:
            return
        event = TrainingEvent(kind, step, metrics)
        if self._on_event is not None:
            self._on_event(event)
        self._hook(event=event)

    def message(self, text: str, step: int = 0) -> None:
        self.emit("message", step, text=text)

    # -- setup --------------------------------------------------------------
    def _setup(self, device: torch.device) -> tuple[Task, bool]:
        """Check the run directory, let the task read its data, then write the run's files.

        Bad data or a bad option fails before anything in the run directory is deleted,
        so ``--overwrite`` never costs a run for nothing. Under torchrun rank 0 writes
        the run; the others wait for it and read what it wrote.
        """
        follower = not self.dist.is_main
        if not follower:
            created = not self.run_dir.exists()
            try:
                return self._setup_main(device)
            except BaseException:
                if created and not rd.is_run(self.run_dir):
                    _remove_if_empty(self.run_dir)
                raise
        try:
            distributed.barrier(self.dist)  # rank 0 has written the tokenizer and config
        except RuntimeError:  # rank 0 stopped before training (its own error says why): leave quietly
            raise RunError(f"rank {self.dist.rank}: rank 0 stopped before training started; see its error") from None
        self.config = self._stored_config(self.config, check=False)
        task = self._prepare_task(device, uses_stored=True)
        return task, self.resume

    def _setup_main(self, device: torch.device) -> tuple[Task, bool]:
        resuming = False
        if self.resume or not self.overwrite:
            resuming = rd.prepare(self.run_dir, self.resume, self.overwrite)  # refuses an existing run early
        if resuming:
            stored = rd.read_run_meta(self.run_dir).get("task")  # before the config: each task has its own keys
            if stored != self.info.name:
                known = tasks()
                noun = known[stored].noun() if stored in known else stored
                raise RunError(f"{self.run_dir} is a {noun} run, not a {self.info.noun()} run")
            self.config = self._stored_config(self.config, check=True)
        task = self._prepare_task(device, uses_stored=resuming)
        if not resuming:
            if self.overwrite:
                rd.prepare(self.run_dir, False, True)
            self._write_run_files(task)
        distributed.barrier(self.dist)
        return task, resuming

    def _prepare_task(self, device: torch.device, uses_stored: bool) -> Task:
        stored_meta = rd.read_run_meta(self.run_dir) if uses_stored else {}
        task = self.info.task_class(self.config)
        seed_all(self.config.seed)
        task.prepare(RunContext(self.run_dir, uses_stored, self.dist, device, self.message, stored_meta))
        self.config = task.config  # with the data-driven defaults resolved
        if self.dist.rank:
            # Every rank built the same model from the same seed; from here each draws its
            # own dropout masks (rank 0 keeps the single-process stream, so one process
            # trains exactly as before).
            torch.manual_seed(self.config.seed + 7919 * self.dist.rank)
        if task.model is None:
            raise RuntimeError(f"task {self.info.name!r} built no model in prepare()")
        return task

    def _stored_config(self, given, check: bool):
        """The run's stored config, with the options given now laid over it.

        Only options that bound the run may change on resume; an option left unset takes
        the stored value, so ``--resume`` needs no flag of the first run repeated.
        """
        saved = type(given).from_dict(rd.read_json(self.run_dir / rd.CONFIG_FILE, "config"))
        changed = given.resume_differences(saved)
        if check and changed:
            details = ", ".join(f"{k} ({getattr(saved, k)!r} -> {getattr(given, k)!r})" for k in changed)
            raise ConfigError(f"cannot resume {self.run_dir} with a changed config: {details}")
        bounds = {k: getattr(given, k) for k in type(given).resumable if getattr(given, k) is not None}
        return dataclasses.replace(saved, **bounds)

    def _write_run_files(self, task: Task) -> None:
        meta = {"format": rd.FORMAT_VERSION, "textrnn_version": __version__, "task": self.info.name,
                "task_plugin": self.info.plugin}
        if task.tokenizer is not None:
            fingerprint = save_tokenizer(task.tokenizer, self.run_dir / rd.TOKENIZER_DIR)
            meta["vocab_size"] = task.tokenizer.vocab_size
            meta["tokenizer"] = {"type": task.tokenizer.type_name, "fingerprint": fingerprint}
        meta["parameters"] = sum(p.numel() for p in task.model.parameters())
        rd.write_config(self.run_dir, self.config.to_dict(), task=self.info.name)
        rd.write_json_atomic(self.run_dir / rd.RUN_FILE, {**meta, **task.run_fields, "status": "running"})

    # -- the run ------------------------------------------------------------
    def run(self) -> dict:
        device = distributed.init(self.dist, resolve_device(self.config.device))
        task, resuming = self._setup(device)
        cfg = self.config
        if getattr(cfg, "threads", None):
            torch.set_num_threads(cfg.threads)  # process-wide: on a busy CPU fewer threads wait less
        self.task, self.device = task, device
        self._build_training(task, device)
        if resuming:
            self._restore(task)
        limit = self.limit = self._limit(task)
        p = self.progress
        if limit is not None and cfg.time_budget is None:
            p.planned = limit
        self.emit("start", p.step, model=str(task.model), model_name=getattr(cfg, "model", None),
                  parameters=sum(t.numel() for t in task.model.parameters()), device=str(device),
                  precision=self.precision, vocab_size=getattr(task.tokenizer, "vocab_size", None),
                  max_steps=limit, time_budget=cfg.time_budget, resumed=resuming, **task.start_fields())
        status = "failed"
        self.t0 = time.perf_counter()
        try:
            self._train(task, limit, resuming)
            status = "finished"
            # Every rank has finished its collectives before any leaves the group; a rank
            # that exits with gloo's threads still talking can abort.
            distributed.barrier(self.dist)
            self.train_model = None  # DDP holds the process group: let shutdown free it
            distributed.shutdown(self.dist)
        except TrainingInterrupted:
            status = "interrupted"
            raise
        finally:
            if self.dist.is_main and rd.is_run(self.run_dir):
                rd.record_exit(self.run_dir, status, steps=p.step, elapsed=self._elapsed(),
                               **{f"best_{k}": _json_number(v) for k, v in (p.best or {}).items()
                                  if k not in ("time", "epoch", "step")})
        summary = {"steps": p.step, **task.summary(p.best, p.step), "run_dir": str(self.run_dir)}
        self.emit("end", p.step, **summary)
        return summary

    def _build_training(self, task: Task, device: torch.device) -> None:
        cfg, model = self.config, task.model
        self.precision = resolve_precision(cfg.precision, device)
        cast_dtype = autocast_dtype(self.precision)
        task.autocast_dtype = cast_dtype
        model.to(device)
        # DDP averages gradients across processes; the bare module is kept for eval and saving.
        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None) \
            if self.dist.enabled else model
        if cfg.compile:
            train_model = CompiledOrEager(train_model, self.message)
        self.train_model = train_model
        self.optimizer = task.optimizer(model, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision == "fp16")
        self.cast = torch.autocast(device.type, dtype=cast_dtype) if cast_dtype is not None \
            else contextlib.nullcontext()
        # Polyak-style average of the weights (--ema): evaluated, checkpointed and served in
        # place of the raw weights, which keep training underneath
        self.averaged = copy.deepcopy(model).requires_grad_(False) if cfg.ema else None
        if self.averaged is not None:
            self.average_pairs = (list(self.averaged.parameters()), list(model.parameters()))

    def _limit(self, task: Task) -> int | None:
        """The step limit from --max-steps and --epochs; one epoch when nothing bounds the run."""
        cfg = self.config
        limit = cfg.max_steps
        if cfg.epochs is not None:
            epoch_steps = max(1, math.ceil(cfg.epochs * task.steps_per_epoch()))
            limit = epoch_steps if limit is None else min(limit, epoch_steps)
        if limit is None and cfg.time_budget is None:
            limit = task.steps_per_epoch()
        return limit

    def _elapsed(self) -> float:
        return self.progress.elapsed_before + time.perf_counter() - self.t0

    # -- the steps ----------------------------------------------------------
    def _train(self, task: Task, limit: int | None, resuming: bool) -> None:
        cfg, p = self.config, self.progress
        cadence = EvalCadence(cfg.eval_every, None if self.dist.enabled else cfg.time_budget,
                              task.default_eval_every())
        self.log = TrainLog(self, task)
        self.last_saved = p.step if resuming else -1
        self.last_evaluated = p.step if resuming else -1
        self.start_step = p.step
        task.model.train()
        epoch = None
        while True:
            if self._should_stop(limit):
                break
            if p.step // task.steps_per_epoch() != epoch:
                epoch = p.step // task.steps_per_epoch()
                task.on_epoch(epoch, p.step)
            lr = self._one_step(task)
            p.step += 1
            maybe_crash("step", p.step)
            self._replan(limit)
            self.log.after_step(lr)
            if cadence.due(p.step, self._elapsed()):
                if not cadence.affordable():
                    self._save(False)  # a checkpoint to resume from, without the evaluation's cost
                    continue
                started = time.perf_counter()
                stop = self._evaluate_and_save()
                cadence.note_cost(time.perf_counter() - started)
                if stop:
                    break
            elif getattr(cfg, "save_every", None) and p.step % cfg.save_every == 0:
                self._save(False)
        self.log.flush()
        if p.step != self.last_evaluated:  # a checkpoint-only mark does not stand in for the final score
            self._evaluate_and_save(final=True)

    def _should_stop(self, limit: int | None) -> bool:
        """At a step boundary: the limit, the time budget (agreed by every rank), or a signal."""
        cfg, p = self.config, self.progress
        if limit is not None and p.step >= limit:
            return True
        time_up = cfg.time_budget is not None and self._elapsed() >= cfg.time_budget
        # One collective carries both: any rank's signal, else any rank out of time.
        code = distributed.any_flag(self.dist, 2 * (self._stop_requested() or 0) + int(time_up))
        signum = code // 2
        if signum:
            path = self._save(False) if p.step != self.last_saved else ckpt.list_checkpoints(self.run_dir)[-1]
            raise TrainingInterrupted(f"training stopped by signal {signum}; checkpoint saved to {path}",
                                      str(path), signum)
        return bool(code % 2)

    def _one_step(self, task: Task) -> float:
        cfg, p, model = self.config, self.progress, task.model
        batch = task.next_batch(p.step)
        lr = learning_rate(p.step, cfg.lr, cfg.warmup_steps or 0, p.planned, cfg.schedule, cfg.min_lr_ratio)
        batch_scale = getattr(batch, "lr_scale", 1.0)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0) * batch_scale
        with self.cast:
            loss = task.loss(self.train_model, batch)
        objective, reported = loss if isinstance(loss, tuple) else (loss, loss)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(objective).backward()
        task.after_backward(self.train_model, batch, self.scaler)
        if cfg.clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([t for t in model.parameters() if t.grad is not None], cfg.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.averaged is not None:
            # the decay ramps up as in TensorFlow's ExponentialMovingAverage, so the random
            # initialisation is forgotten within the first hundred steps
            decay = min(cfg.ema, (1 + p.step) / (10 + p.step))
            with torch.no_grad():
                torch._foreach_lerp_(*self.average_pairs, 1.0 - decay)
        task.after_step()
        self.log.add(reported.detach(), batch)
        return lr

    def _replan(self, limit: int | None) -> None:
        """Re-fit the schedule to the pace so far, so the decay ends as the budget does."""
        cfg, p = self.config, self.progress
        if cfg.time_budget is None or p.step < REPLAN_AFTER or p.step % cfg.log_every:
            return
        seconds = time.perf_counter() - self.t0
        per_step = seconds / max(1, p.step - self.start_step)
        left = max(0.0, cfg.time_budget - p.elapsed_before - seconds)
        planned = p.step + int(left / max(per_step, 1e-9))
        # ranks' clocks differ: all take the longest plan, so their learning rates agree
        planned = distributed.any_flag(self.dist, planned)
        p.planned = min(planned, limit) if limit is not None else planned

    # -- evaluation and checkpoints -----------------------------------------
    def _evaluate_and_save(self, final: bool = False) -> bool:
        """Evaluate, track the best, save; True when patience says stop."""
        cfg, p, task = self.config, self.progress, self.task
        self.log.flush()  # a diverged loss must stop the run before it is checkpointed
        judged = self.averaged if self.averaged is not None else task.model
        judged.eval()
        record = task.evaluate(judged, p.step)
        task.model.train()
        self.last_evaluated = p.step
        record = {**record, "time": self._elapsed()}
        if self.dist.is_main:
            rd.append_metrics(self.run_dir, {"kind": "eval", "step": p.step, **record})
        self.emit("eval", p.step, **record)
        if task.diverged(record["valid_loss"]):
            raise TrainingDiverged(diverged_message(p.step, self.run_dir, record["valid_loss"]))
        improved = task.improved(record, p.best)
        if improved:
            # the scores, not the clock: a resumed run must store the same best as an unbroken one
            p.best, p.bad_evals = {**{k: v for k, v in record.items() if k != "time"}, "step": p.step}, 0
        else:
            p.bad_evals += 1
        maybe_crash("after-eval", p.step)
        self._save(improved)
        if not final and cfg.patience is not None and p.bad_evals >= cfg.patience:
            self.message(f"early stopping: no improvement in {p.bad_evals} evaluations", p.step)
            return True
        return False

    def _save(self, improved: bool) -> Path | None:
        p, task, dist = self.progress, self.task, self.dist
        self.log.flush()
        model_t, aliases = ckpt.model_tensors(task.model)
        optim_t, optim_meta = ckpt.optimizer_to_tensors(self.optimizer)
        rng_t, rng_meta = ckpt.capture_rng()
        if dist.enabled:  # every process has its own dropout RNG: gather them whole
            rng_t["rank_torch"] = distributed.gather_batch(dist, torch.get_rng_state()[None], 0)
            rng_meta = {**rng_meta, "rank_rng": dist.world_size}
        state_t, task_meta = task.checkpoint_state()
        self.last_saved = p.step  # on every rank: each decides alike whether a final save is due
        if not dist.is_main:
            return None
        groups = {"model": model_t, "optimizer": optim_t, "rng": rng_t, "train_state": state_t}
        if self.averaged is not None:
            groups["ema"] = ckpt.model_tensors(self.averaged)[0]
        best = {k: _json_number(v) for k, v in (p.best or {}).items()}
        meta = {"step": p.step, "best": best or None, "bad_evals": p.bad_evals, "planned_steps": p.planned,
                "elapsed": self._elapsed(), "tokenizer_fingerprint": _fingerprint(task),
                "model_aliases": aliases, "optimizer": optim_meta, "rng": rng_meta, "config": self.config.to_dict(),
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None, **task_meta}
        path = ckpt.save_checkpoint(self.run_dir, p.step, groups, meta, keep_last=self.config.keep_last)
        if improved:
            ckpt.mark_best(self.run_dir, path, {**{k: v for k, v in best.items() if k != "time"}, "step": p.step})
        self.emit("checkpoint", p.step, path=str(path), best=improved)
        return path

    def _restore(self, task: Task) -> None:
        p, dist = self.progress, self.dist
        found = ckpt.restore_latest(self.run_dir, task.model, self.optimizer, self.scaler, _fingerprint(task),
                                    self.message)
        meta = found.meta
        if self.averaged is not None:
            # a run that started without --ema cannot change it on resume (config check)
            ckpt.load_model_tensors(self.averaged, found.tensors("ema"), meta["model_aliases"])
        p.step, p.bad_evals = meta["step"], meta["bad_evals"]
        p.best = stored_best(meta)
        p.planned, p.elapsed_before = meta.get("planned_steps"), meta.get("elapsed", 0.0)
        task.restore_state(found.tensors("train_state") if "train_state.safetensors" in found.files else {},
                           meta, p.step)
        if dist.enabled and "rank_rng" in meta["rng"]:
            torch.set_rng_state(found.tensors("rng")["rank_torch"][dist.rank].clone())
        if dist.is_main:
            rd.truncate_metrics(self.run_dir, p.step)
            rd.set_status(self.run_dir, "running", error=None)  # until record_exit says how it ended
        self.message(f"resuming {self.run_dir} from {found.path.name} (step {p.step}{task.position(p.step)})", p.step)


class TrainLog:
    """The training-loss records: summed on the device, written every ``log_every`` steps."""

    def __init__(self, loop: TrainingLoop, task: Task):
        self.loop, self.task = loop, task
        self.deferred = DeferredLog(loop.device.type == "cuda", self._write)
        self._reset(time.perf_counter())

    def _reset(self, now: float) -> None:
        self.t_log, self.loss_sum, self.count, self.units = now, torch.zeros((), device=self.loop.device), 0, {}

    def add(self, loss: torch.Tensor, batch) -> None:
        self.loss_sum += loss
        self.count += 1
        for name, n in self.task.batch_units(batch).items():
            self.units[name] = self.units.get(name, 0) + n

    def after_step(self, lr: float) -> None:
        loop, p = self.loop, self.loop.progress
        if p.step % loop.config.log_every:
            return
        now = time.perf_counter()
        span = max(now - self.t_log, 1e-9)
        total = p.planned or loop.limit
        rates = {f"{name}_per_s": n / span for name, n in self.units.items()}
        eta = (total - p.step) * (now - loop.t0) / max(1, p.step - loop.start_step) if total else None
        self.deferred.add(p.step, distributed.mean(loop.dist, self.loss_sum / self.count), lr=lr, **rates,
                          elapsed=loop._elapsed(), total_steps=total, eta=eta,
                          epoch=p.step / self.task.steps_per_epoch())
        self._reset(now)

    def flush(self) -> None:
        self.deferred.flush()

    def _write(self, step: int, mean_loss: float, fields: dict) -> None:
        loop = self.loop
        if self.task.diverged(mean_loss):
            raise TrainingDiverged(diverged_message(step, loop.run_dir, mean_loss))
        record = {"kind": "train", "step": step, "loss": mean_loss, "lr": fields["lr"],
                  **{k: v for k, v in fields.items() if k.endswith("_per_s")}, "time": fields["elapsed"]}
        if loop.dist.is_main:
            rd.append_metrics(loop.run_dir, record)
        loop.emit("step", step, loss=mean_loss, **fields)


def stored_best(meta: dict) -> dict | None:
    """The best evaluation a checkpoint stored, also from checkpoints of the two old trainers."""
    best = meta.get("best")
    if isinstance(best, dict) and ("accuracy" in best or "loss" in best) and "valid_loss" not in best:
        best = {"valid_accuracy": best.get("accuracy"), "valid_loss": best.get("loss")}  # the old classifier's
    if best is None and meta.get("best_valid_loss") is not None:
        best = {"valid_loss": meta["best_valid_loss"]}  # the old LM trainer's
    best = {k: v for k, v in (best or {}).items() if v is not None}  # None: not finite when saved
    return best or None


def diverged_message(step: int, run_dir: Path, loss: float) -> str:
    good = ckpt.list_checkpoints(run_dir)
    kept = f"the last good checkpoint {good[-1].name} is kept" if good else "no checkpoint had been written yet"
    return (f"loss became NaN or infinite, or exploded ({loss:.4g} nats), at step {step}; {kept}. "
            "Try a lower --lr or set --clip (e.g. --clip 1.0)")


def _fingerprint(task: Task) -> str | None:
    return task.tokenizer.fingerprint() if task.tokenizer is not None else None


def _json_number(value):
    return value if value is None or not isinstance(value, float) or math.isfinite(value) else None


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass

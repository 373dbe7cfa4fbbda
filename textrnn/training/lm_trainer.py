"""Training loop for language models: truncated BPTT over carried hidden state.

The library never prints: progress goes to ``on_event`` and to plugins'
``on_training_event`` hook, and the CLI renders it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from .. import __version__
from ..data.lm_sampling import Cursor, DeviceSampler, WindowSampler
from ..data.lm_data import prepare_lm_data
from ..devices import autocast_dtype, resolve_device, resolve_precision
from ..errors import ConfigError, RunError, TrainingDiverged, TrainingInterrupted
from ..evaluation import total_nll
from .. import distributed
from ..events import TrainingEvent
from ..faults import maybe_crash
from ..plugins import get_plugin_manager
from ..registry import get_model
from ..tokenizers import load_tokenizer, save_tokenizer
from . import checkpoint as ckpt
from .compiled import CompiledOrEager
from . import run_dir as rd
from . import lm_defaults
from .config import RESUMABLE_CHANGES, TrainConfig
from .schedule import learning_rate

EVAL_STREAMS = 16  # training-time validation runs 16 contiguous streams for speed
EVAL_EVERY = 250  # steps between evaluations, without --eval-every or a time budget
EVALS_PER_BUDGET = 4  # under --time-budget alone: evaluate at each quarter of it, and at the end
EVAL_TOKENS = 65_536  # in-training evaluations read at most this much of the validation text
REPLAN_AFTER = 20  # steps measured before a time budget is turned into a step plan


class LMTrainer:
    """Trains one language-model run; ``run()`` returns the final summary."""

    def __init__(self, config: TrainConfig, run_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
                 on_event: Callable[[TrainingEvent], None] | None = None,
                 stop_requested: Callable[[], int | None] | None = None):
        self.config = config
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.overwrite = overwrite
        self._on_event = on_event
        self._stop_requested = stop_requested or (lambda: None)
        self._hook = get_plugin_manager().hook.on_training_event
        self.dist = distributed.from_env()

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
    def _setup(self):
        cfg = self.config
        # Under torchrun, rank 0 prepares the run directory; the others read what it wrote.
        follower = not self.dist.is_main
        resuming = self.resume if follower else rd.prepare(self.run_dir, self.resume, self.overwrite)
        if resuming and not follower:
            task = rd.read_run_meta(self.run_dir).get("task")  # before the config: a classifier's has other keys
            if task != "lm":
                raise RunError(f"{self.run_dir} is a {task} run, not a language-model run")
        if resuming or follower:
            cfg = self._stored_config(cfg, check=resuming and not follower)
        info = get_model(cfg.model, task="lm")
        tok_dir = self.run_dir / rd.TOKENIZER_DIR
        # Streams the corpus through the token cache: ids are memory maps, never whole texts in RAM.
        data = prepare_lm_data(cfg, tokenizer=load_tokenizer(tok_dir) if resuming or follower else None,
                               on_message=self.message)
        tokenizer, train_ids, valid_ids, corpus_meta = data.tokenizer, data.train, data.valid, data.corpus
        if not (resuming or follower):
            cfg = self._resolve_defaults(cfg, tokenizer, len(train_ids))
        self.config = cfg
        options = info.make_options(cfg.model_options)

        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        model = info.factory(tokenizer.vocab_size, options)
        if not follower and not resuming:  # rank 0 writes a new run; a resumed run keeps its files
            fingerprint = save_tokenizer(tokenizer, tok_dir)
            rd.write_config(self.run_dir, cfg.to_dict(), task="lm")
            rd.write_json_atomic(self.run_dir / rd.RUN_FILE, {
                "format": rd.FORMAT_VERSION, "textrnn_version": __version__, "task": "lm",
                "model": cfg.model, "plugin": info.plugin, "model_options": _plain(vars(options)),
                "vocab_size": tokenizer.vocab_size, "tokenizer": {"type": cfg.tokenizer, "fingerprint": fingerprint},
                "parameters": sum(p.numel() for p in model.parameters()), "corpus": corpus_meta,
                "status": "running",
            })
        return tokenizer, model, options, info, train_ids, valid_ids, data.valid_chars, resuming

    def _stored_config(self, given: TrainConfig, check: bool) -> TrainConfig:
        """The run's stored config, with the options given now laid over it.

        Only options that bound the run may change on resume; an option left unset takes
        the stored value, so ``--resume`` needs no flag of the first run repeated.
        """
        saved = TrainConfig.from_dict(rd.read_json(self.run_dir / rd.CONFIG_FILE, "config"))
        changed = given.resume_differences(saved)
        if check and changed:
            details = ", ".join(f"{k} ({getattr(saved, k)!r} -> {getattr(given, k)!r})" for k in changed)
            raise ConfigError(f"cannot resume {self.run_dir} with a changed config: {details}")
        bounds = {k: getattr(given, k) for k in RESUMABLE_CHANGES if getattr(given, k) is not None}
        return dataclasses.replace(saved, **bounds)

    def _resolve_defaults(self, cfg: TrainConfig, tokenizer, train_tokens: int) -> TrainConfig:
        """Fill the options left unset from the data, and say what was chosen and why."""
        resolved, lines = lm_defaults.resolve_for(cfg, tokenizer, train_tokens, self.dist.world_size)
        for line in lines:
            self.message(line)
        return resolved

    def _optimizer(self, model, device):
        cfg = self.config
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                 betas=(0.9, cfg.adam_beta2), fused=device.type == "cuda" or None)

    # -- the loop -----------------------------------------------------------
    def run(self) -> dict:
        cfg = self.config
        dist = self.dist
        device = distributed.init(dist, resolve_device(cfg.device))
        if not dist.is_main:
            distributed.barrier(dist)  # wait for rank 0 to write the tokenizer and config
        tokenizer, model, options, info, train_ids, valid_ids, valid_chars, resuming = self._setup()
        cfg = self.config  # with the defaults resolved, or the stored config of a resumed run
        if dist.is_main:
            distributed.barrier(dist)
        precision = resolve_precision(cfg.precision, device)
        cast_dtype = autocast_dtype(precision)
        model.to(device)
        # DDP averages gradients across processes; the bare module is kept for eval and saving.
        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None) \
            if dist.enabled else model
        if cfg.compile:
            train_model = CompiledOrEager(train_model, self.message)
        optimizer = self._optimizer(model, device)
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        sampler = WindowSampler(train_ids, cfg.sampling, cfg.batch_size, cfg.seq_len, cfg.seed, dist.rank,
                                dist.world_size)
        windows = sampler.windows_per_epoch
        batches = DeviceSampler(sampler, device)
        cursor = Cursor()
        valid_start = tokenizer.newline_id
        chars_per_valid_token = valid_chars / max(1, len(valid_ids))
        # A bounded, fixed prefix: every evaluation of the run scores the same tokens, so the
        # best checkpoint is picked on one measure; `textrnn evaluate` scores the whole text.
        eval_tokens = cfg.eval_tokens or EVAL_TOKENS
        eval_ids = valid_ids[:eval_tokens] if len(valid_ids) > eval_tokens else valid_ids
        cadence = EvalCadence(cfg.eval_every, None if dist.enabled else cfg.time_budget)
        if len(eval_ids) < len(valid_ids):
            self.message(f"evaluating on the first {len(eval_ids):,} of {len(valid_ids):,} validation tokens "
                         "during training (--eval-tokens); the summary and `textrnn evaluate` read them all")

        step, state, elapsed_before = 0, None, 0.0
        best, bad_evals, planned = math.inf, 0, None
        if resuming:
            found = ckpt.restore_latest(self.run_dir, model, optimizer, scaler, tokenizer.fingerprint(), self.message)
            meta = found.meta
            carried = found.tensors("train_state")
            if carried:
                state = tuple(distributed.local_slice(dist, carried[f"state.{i}"], 1).to(device)
                              for i in range(len(carried)))
            if dist.enabled and "rank_rng" in meta["rng"]:
                torch.set_rng_state(found.tensors("rng")["rank_torch"][dist.rank].clone())
            step, best, bad_evals = meta["step"], meta["best_valid_loss"], meta["bad_evals"]
            # Checkpoints from before the sampler stored no cursor: they read fixed streams.
            cursor = Cursor.from_dict(meta["sampler"]) if "sampler" in meta else \
                Cursor(step, step // windows, (step % windows) * cfg.seq_len)
            planned, elapsed_before = meta.get("planned_steps"), meta.get("elapsed", 0.0)
            if dist.is_main:
                rd.truncate_metrics(self.run_dir, step)
                rd.set_status(self.run_dir, "running", error=None)  # until record_exit says how it ended
            self.message(f"resuming {self.run_dir} from {found.path.name} (step {step})", step)

        limit = cfg.max_steps
        if cfg.epochs is not None:
            epoch_steps = max(1, int(cfg.epochs * windows))
            limit = epoch_steps if limit is None else min(limit, epoch_steps)
        if limit is None and cfg.time_budget is None:
            limit = windows  # no limit given: one epoch
        if limit is not None and cfg.time_budget is None:
            planned = limit

        params = sum(p.numel() for p in model.parameters())
        self.emit("start", step, model=str(model), model_name=cfg.model, parameters=params, device=str(device),
                  precision=precision, vocab_size=tokenizer.vocab_size, train_tokens=int(len(train_ids)),
                  valid_tokens=int(len(valid_ids)), windows_per_epoch=windows, max_steps=limit,
                  time_budget=cfg.time_budget, resumed=resuming)

        def save(current_step: int, improved: bool) -> Path:
            train_log.flush()  # a diverged loss must stop the run before it is checkpointed
            model_t, aliases = ckpt.model_tensors(model)
            optim_t, optim_meta = ckpt.optimizer_to_tensors(optimizer)
            rng_t, rng_meta = ckpt.capture_rng()
            # Every process holds its own streams' state and dropout RNG: gather them whole.
            state_t = {f"state.{i}": distributed.gather_batch(dist, s.detach(), 1).cpu().contiguous()
                       for i, s in enumerate(state or ())}
            if dist.enabled:
                rng_t["rank_torch"] = distributed.gather_batch(dist, torch.get_rng_state()[None], 0)
                rng_meta = {**rng_meta, "rank_rng": dist.world_size}
            if not dist.is_main:
                return None
            meta = {
                "step": current_step, "epoch": cursor.epoch, "sampler": cursor.to_dict(),
                "best_valid_loss": best, "bad_evals": bad_evals, "planned_steps": planned,
                "elapsed": elapsed_before + (time.perf_counter() - t0), "tokenizer_fingerprint": tokenizer.fingerprint(),
                "model_aliases": aliases, "optimizer": optim_meta, "rng": rng_meta, "config": cfg.to_dict(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            }
            path = ckpt.save_checkpoint(self.run_dir, current_step, {
                "model": model_t, "optimizer": optim_t, "rng": rng_t, "train_state": state_t}, meta,
                keep_last=cfg.keep_last)
            if improved:
                ckpt.mark_best(self.run_dir, path, {"step": current_step, "valid_loss": best})
            self.emit("checkpoint", current_step, path=str(path), best=improved)
            return path

        def evaluate(current_step: int) -> float:
            train_log.flush()
            nll, count = total_nll(model, eval_ids, device, streams=EVAL_STREAMS, start_id=valid_start,
                                   autocast_dtype=cast_dtype)
            loss = nll / count
            record = {"kind": "eval", "step": current_step, "valid_loss": loss,
                      "valid_bpc": loss / math.log(2) / chars_per_valid_token,
                      "time": elapsed_before + time.perf_counter() - t0}
            if dist.is_main:
                rd.append_metrics(self.run_dir, record)
            self.emit("eval", current_step, **{k: v for k, v in record.items() if k not in ("kind", "step")})
            return loss

        cast = (torch.autocast(device.type, dtype=cast_dtype) if cast_dtype is not None else contextlib.nullcontext())

        def write_train_record(logged_step: int, mean_loss: float, fields: dict) -> None:
            if _diverged(mean_loss, tokenizer.vocab_size):
                raise TrainingDiverged(_diverged_message(logged_step, self.run_dir, mean_loss))
            record = {"kind": "train", "step": logged_step, "loss": mean_loss, "lr": fields["lr"],
                      "tokens_per_s": fields["tokens_per_s"], "time": fields["elapsed"]}
            if dist.is_main:
                rd.append_metrics(self.run_dir, record)
            self.emit("step", logged_step, loss=mean_loss, **fields)

        train_log = DeferredLog(device.type == "cuda", write_train_record)
        model.train()
        t0 = time.perf_counter()
        t_log, loss_sum, loss_count = t0, torch.zeros((), device=device), 0
        last_saved = step if resuming else -1
        start_step = step
        status = "failed"
        try:
            while True:
                elapsed = elapsed_before + time.perf_counter() - t0
                if limit is not None and step >= limit:
                    break
                if cfg.time_budget is not None and elapsed >= cfg.time_budget:
                    break
                signum = distributed.any_flag(dist, self._stop_requested() or 0)
                if signum:
                    path = save(step, False) if step != last_saved else ckpt.list_checkpoints(self.run_dir)[-1]
                    status = "interrupted"
                    raise TrainingInterrupted(f"training stopped by signal {signum}; checkpoint saved to {path}",
                                              str(path), signum)
                batch, cursor = batches.next(cursor)
                if batch.reset_state:
                    state = None  # a new epoch, or a random window: start from a fresh state
                x, y = batch.inputs, batch.targets  # (B, T) each, on the device
                lr = learning_rate(step, cfg.lr, cfg.warmup_steps, planned, cfg.schedule, cfg.min_lr_ratio)
                for group in optimizer.param_groups:
                    group["lr"] = lr * batch.lr_scale
                with cast:
                    logits, state = train_model(x, state)  # (B, T, V)
                    loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
                objective = loss
                if cfg.l1:
                    objective = loss + cfg.l1 * sum(p.abs().sum() for p in model.parameters())
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(objective).backward()
                if cfg.clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                scaler.step(optimizer)
                scaler.update()
                state = tuple(s.detach() for s in state)  # truncated BPTT: carry values, not graphs
                step += 1
                maybe_crash("step", step)
                loss_sum += loss.detach()
                loss_count += 1

                if cfg.time_budget is not None and step >= REPLAN_AFTER and step % cfg.log_every == 0:
                    # Re-fit the schedule to the pace so far, so the decay ends as the budget does.
                    planned = _plan(step - start_step, time.perf_counter() - t0,
                                    cfg.time_budget - elapsed_before, None) + start_step
                    planned = min(planned, limit) if limit is not None else planned
                if step % cfg.log_every == 0:
                    now = time.perf_counter()
                    total = planned or limit
                    train_log.add(step, distributed.mean(dist, loss_sum / loss_count), lr=lr,
                                  tokens_per_s=loss_count * sampler.tokens_per_window / max(now - t_log, 1e-9),
                                  elapsed=elapsed_before + now - t0, total_steps=total,
                                  eta=(total - step) * (now - t0) / max(1, step - start_step) if total else None)
                    t_log, loss_sum, loss_count = now, torch.zeros((), device=device), 0
                if cadence.due(step, elapsed_before + time.perf_counter() - t0):
                    valid_loss = evaluate(step)
                    if _diverged(valid_loss, tokenizer.vocab_size):
                        raise TrainingDiverged(_diverged_message(step, self.run_dir, valid_loss))
                    improved = valid_loss < best
                    best, bad_evals = (valid_loss, 0) if improved else (best, bad_evals + 1)
                    maybe_crash("after-eval", step)
                    save(step, improved)
                    last_saved = step
                    if cfg.patience is not None and bad_evals >= cfg.patience:
                        self.message(f"early stopping: no improvement in {bad_evals} evaluations", step)
                        break
                elif cfg.save_every and step % cfg.save_every == 0:
                    save(step, False)
                    last_saved = step
            train_log.flush()
            if step != last_saved:
                valid_loss = evaluate(step)
                if _diverged(valid_loss, tokenizer.vocab_size):
                    raise TrainingDiverged(_diverged_message(step, self.run_dir, valid_loss))
                improved = valid_loss < best
                best = min(best, valid_loss)
                save(step, improved)
            status = "finished"
            # Every rank has finished its collectives before any leaves the group; a rank
            # that exits with gloo's threads still talking can abort.
            distributed.barrier(dist)
            train_model = None  # DDP holds the process group: let shutdown free it
            distributed.shutdown(dist)
        finally:
            if dist.is_main and rd.is_run(self.run_dir):
                rd.record_exit(self.run_dir, status, steps=step,
                              elapsed=elapsed_before + time.perf_counter() - t0,
                              best_valid_loss=best if math.isfinite(best) else None)
        summary = {"steps": step, "best_valid_loss": best, "best_valid_bpc": best / math.log(2) / chars_per_valid_token,
                   "run_dir": str(self.run_dir)}
        self.emit("end", step, **summary)
        return summary


class EvalCadence:
    """When to evaluate: every ``eval_every`` steps, or, when only a time budget bounds the
    run, at each :data:`EVALS_PER_BUDGET`-th of it, so that evaluation costs a bounded
    share of the budget however fast the steps are. Under DDP the budget rule is off
    (``budget=None``): ranks must agree on the step, and clocks differ."""

    def __init__(self, eval_every: int | None, budget: float | None):
        self.every = eval_every or (None if budget else EVAL_EVERY)
        self.interval = budget / EVALS_PER_BUDGET if self.every is None else None
        self.mark = 0

    def due(self, step: int, elapsed: float) -> bool:
        if self.every is not None:
            return step % self.every == 0
        mark = int(elapsed / self.interval)
        if mark > self.mark:
            self.mark = mark
            return True
        return False


class DeferredLog:
    """Training-loss records that, on CUDA, are read one logging interval late.

    Reading a loss (``.item()``) waits for every kernel queued so far. Done at every log
    step it would drain the GPU's queue each ``log_every`` steps, which a bare loop never
    does. On CUDA the interval's mean is copied to pinned host memory without blocking and
    an event marks the copy; the record is written at the next log point, or when an
    evaluation or a save flushes it, waiting on that event alone, which by then has long
    passed. On the CPU there is no queue to drain, so records are written at once.
    """

    def __init__(self, defer: bool, write: Callable[[int, float, dict], None]):
        self.defer = defer
        self.write = write
        self.pending: tuple[int, torch.Tensor, "torch.cuda.Event | None", dict] | None = None

    def add(self, step: int, mean_loss: torch.Tensor, **fields) -> None:
        self.flush()
        event = None
        if self.defer and mean_loss.is_cuda:
            host = torch.empty((), dtype=mean_loss.dtype, pin_memory=True)
            host.copy_(mean_loss, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            mean_loss = host
        self.pending = (step, mean_loss, event, fields)
        if not self.defer:
            self.flush()

    def flush(self) -> None:
        if self.pending is not None:
            step, mean_loss, event, fields = self.pending
            self.pending = None
            if event is not None:
                event.synchronize()  # waits for this copy only, not for the kernels queued since
            self.write(step, mean_loss.item(), fields)


def _plan(step: int, elapsed: float, budget: float, limit: int | None) -> int:
    """Turn the time budget into a step count from the pace so far, so cosine decay ends on time."""
    per_step = elapsed / max(1, step)
    planned = step + int(max(0.0, budget - elapsed) / max(per_step, 1e-9))
    return min(planned, limit) if limit is not None else planned


def _diverged(loss: float, vocab_size: int) -> bool:
    """NaN, infinite, or exploded far past uniform guessing (ln V nats): training has blown up.

    Saturating cells (LSTM, GRU) rarely produce a NaN themselves; the output layer explodes.
    """
    return not math.isfinite(loss) or loss > 10 * math.log(max(vocab_size, 2)) + 10


def _diverged_message(step: int, run_dir: Path, loss: float) -> str:
    good = ckpt.list_checkpoints(run_dir)
    kept = f"the last good checkpoint {good[-1].name} is kept" if good else "no checkpoint had been written yet"
    return (f"loss became NaN or infinite, or exploded ({loss:.4g} nats), at step {step}; {kept}. "
            "Try a lower --lr or set --clip (e.g. --clip 1.0)")


def _plain(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.startswith("_")}

"""Training loop for text classifiers: length-bucketed batches over labelled texts.

The library never prints: progress goes to ``on_event`` and to plugins'
``on_training_event`` hook, and the CLI renders it.

Data order is a pure function of ``(seed, epoch)``: each epoch shuffles the rows, sorts
them by length within chunks of ~50 batches (so a batch pads little), cuts batches and
shuffles the batches. The data cursor is therefore just the step: epoch ``step //
batches_per_epoch`` and batch ``step % batches_per_epoch`` of that epoch's order. With
the RNG, optimizer and early-stopping state in each checkpoint, a resumed run takes
exactly the steps the uninterrupted run would have taken.
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
import torch.nn.functional as F

from .. import __version__
from ..classification import classification_metrics, encode_texts, pad_batch, predict_logits
from ..data.labelled import check_classes, class_weights, encode_labels, label_names, load_classifier_splits
from ..devices import autocast_dtype, resolve_device, resolve_precision
from ..errors import ConfigError, RunError, TrainingDiverged, TrainingInterrupted
from ..events import TrainingEvent
from ..faults import maybe_crash
from ..plugins import get_plugin_manager
from ..registry import get_model
from ..tokenizers import load_tokenizer, save_tokenizer, train_tokenizer
from . import checkpoint as ckpt
from . import run_dir as rd
from . import classifier_defaults
from .classifier_config import RESUMABLE_CHANGES, ClassifierConfig
from .schedule import learning_rate

SORT_CHUNK_BATCHES = 50  # rows are sorted by length within chunks of this many batches
REPLAN_AFTER = 20  # steps measured before a time budget is turned into a step plan
SIZE_OPTIONS = ("embedding_dim", "hidden_size", "num_layers")


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Row indices of every batch of ``epoch``, in the order they are trained on."""
    rng = np.random.default_rng([seed, epoch])
    rows = rng.permutation(len(lengths))
    chunk = SORT_CHUNK_BATCHES * batch_size
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        rows[start : start + chunk] = part[np.argsort(lengths[part], kind="stable")]
    batches = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class LanguageModelSource:
    """A trained language-model run to start a classifier from (``init_from``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.meta = rd.read_run_meta(self.path)
        task = self.meta.get("task")
        if task != "lm":
            raise RunError(f"cannot initialise from {self.path}: it is a {task} run, not a language-model run")
        self.cell = self.meta.get("model")
        self.options = self.meta.get("model_options", {})
        self.tokenizer = load_tokenizer(self.path / rd.TOKENIZER_DIR)
        if self.tokenizer.fingerprint() != self.meta.get("tokenizer", {}).get("fingerprint"):
            raise RunError(f"cannot initialise from {self.path}: its stored tokenizer does not match the run")

    @property
    def tokenizer_type(self) -> str:
        return self.meta.get("tokenizer", {}).get("type", self.tokenizer.type_name)

    def weights(self) -> dict[str, torch.Tensor]:
        path = ckpt.best_checkpoint(self.path)
        found = ckpt.load_checkpoint(path) if path is not None else ckpt.load_latest(self.path)[0]
        if found is None:
            raise RunError(f"cannot initialise from {self.path}: it has no usable checkpoint")
        tensors = dict(found.tensors("model"))
        for alias, source in (found.meta.get("model_aliases", {}).get("aliases") or {}).items():
            tensors[alias] = tensors[source]
        return tensors

    def differences(self, options, cell: str | None) -> list[str]:
        """What differs between this LM and a classifier's sizes and cell type."""
        found = []
        if cell != self.cell:
            found.append(f"cell type (LM {self.cell}, classifier {cell})")
        for name in SIZE_OPTIONS:
            mine, theirs = getattr(options, name, None), self.options.get(name)
            if mine != theirs:
                found.append(f"{name} (LM {theirs}, classifier {mine})")
        return found


class ClassifierTrainer:
    """Trains one classifier run; ``run()`` returns the final summary."""

    def __init__(self, config: ClassifierConfig, run_dir: str | Path, *, resume: bool = False,
                 overwrite: bool = False, on_event: Callable[[TrainingEvent], None] | None = None,
                 stop_requested: Callable[[], int | None] | None = None):
        self.config = config
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.overwrite = overwrite
        self._on_event = on_event
        self._stop_requested = stop_requested or (lambda: None)
        self._hook = get_plugin_manager().hook.on_training_event

    # -- events -------------------------------------------------------------
    def emit(self, kind: str, step: int, **metrics) -> None:
        event = TrainingEvent(kind, step, metrics)
        if self._on_event is not None:
            self._on_event(event)
        self._hook(event=event)

    def message(self, text: str, step: int = 0) -> None:
        self.emit("message", step, text=text)

    # -- setup --------------------------------------------------------------
    def _setup(self):
        """Read and check everything, then prepare the run directory.

        Bad data, a mismatched ``init_from`` run or a bad option fails before the run
        directory is touched, so ``--overwrite`` never deletes a run for nothing.
        """
        created = not self.run_dir.exists()
        try:
            return self._build()
        except BaseException:
            if created and not rd.is_run(self.run_dir):
                _remove_if_empty(self.run_dir)
            raise

    def _build(self):
        cfg = self.config
        resuming = False
        if self.resume or not self.overwrite:
            resuming = rd.prepare(self.run_dir, self.resume, self.overwrite)  # refuses an existing run early
        if resuming:
            task = rd.read_run_meta(self.run_dir).get("task")  # before the config: an LM's has other keys
            if task != "classifier":
                raise RunError(f"{self.run_dir} is a {task} run, not a classifier run")
            cfg = self.config = self._stored_config(cfg)
        train, valid, notes = load_classifier_splits(cfg.data, cfg.valid, cfg.valid_fraction, cfg.seed,
                                                     cfg.text_field, cfg.label_field, cfg.encoding_errors)
        for note in notes:
            self.message(note)
        check_classes(train.labels, train.source)
        names = label_names(train.labels)
        y_train = encode_labels(train.labels, names, train.source)
        y_valid = encode_labels(valid.labels, names, valid.source)

        lm = None
        if resuming:
            run_meta = rd.read_run_meta(self.run_dir)  # its task was checked before the config
            if run_meta.get("labels") != names:
                raise RunError(f"cannot resume {self.run_dir}: the training data now has labels {names}, "
                               f"the run has {run_meta.get('labels')}")
            info = get_model(run_meta["model"], task="classifier")
            options = info.make_options(run_meta.get("model_options", {}))
            tokenizer = load_tokenizer(self.run_dir / rd.TOKENIZER_DIR)
        else:
            if cfg.init_from:
                lm = LanguageModelSource(cfg.init_from)
                if cfg.tokenizer is not None and cfg.tokenizer != lm.tokenizer_type:
                    raise ConfigError(f"cannot initialise from {lm.path}: it uses the {lm.tokenizer_type!r} tokenizer, "
                                      f"not {cfg.tokenizer!r}; a classifier started from a language model uses "
                                      "that model's tokenizer")
            cfg = self.config = self._resolve_defaults(cfg, train.texts, len(valid.texts), lm)
            model_name = cfg.model
            info = get_model(model_name, task="classifier")
            values = dict(cfg.model_options)
            fields = {row["name"] for row in info.option_rows()}
            if "num_classes" not in fields:
                raise ConfigError(f"model {model_name!r} has no num_classes option, so the trainer cannot size its output")
            if values.get("num_classes", len(names)) != len(names):
                raise ConfigError(f"num_classes is {values['num_classes']} but the training data has "
                                  f"{len(names)} labels ({', '.join(names)})")
            values["num_classes"] = len(names)
            if lm is not None:  # sizes the user did not set follow the language model
                for name in SIZE_OPTIONS:
                    if name in fields and name in lm.options:
                        values.setdefault(name, lm.options[name])
            options = info.make_options(values)
            if lm is not None:
                tokenizer = lm.tokenizer
            else:
                tokenizer = train_tokenizer(cfg.tokenizer, train.texts, **cfg.tokenizer_options)

        train_ids, cut_train = encode_texts(tokenizer, train.texts, cfg.max_length)
        valid_ids, cut_valid = encode_texts(tokenizer, valid.texts, cfg.max_length)
        if cut_train or cut_valid:
            self.message(f"cut {cut_train} training and {cut_valid} validation text(s) to max_length "
                         f"{cfg.max_length} tokens")

        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        model = info.factory(tokenizer.vocab_size, options)
        if lm is not None:
            differences = lm.differences(options, getattr(model, "cell", None))
            if differences:
                raise ConfigError(f"cannot initialise from {lm.path}: the sizes differ: {', '.join(differences)}")
            if not hasattr(model, "init_from_language_model"):
                raise ConfigError(f"model {info.name!r} cannot be initialised from a language model")
            try:
                copied = model.init_from_language_model(lm.weights())
            except ValueError as exc:
                raise RunError(f"cannot initialise from {lm.path}: {exc}") from None
            self.message(f"initialised {len(copied)} tensors (embedding and recurrent encoder) from {lm.path}")
        if not resuming:
            if self.overwrite:
                rd.prepare(self.run_dir, False, True)
            fingerprint = save_tokenizer(tokenizer, self.run_dir / rd.TOKENIZER_DIR)
            rd.write_config(self.run_dir, cfg.to_dict(), task="classifier")
            rd.write_json_atomic(self.run_dir / rd.RUN_FILE, {
                "format": rd.FORMAT_VERSION, "textrnn_version": __version__, "task": "classifier",
                "model": info.name, "plugin": info.plugin, "model_options": _plain(vars(options)),
                "vocab_size": tokenizer.vocab_size, "tokenizer": {"type": tokenizer.type_name, "fingerprint": fingerprint},
                "labels": names, "max_length": cfg.max_length, "parameters": sum(p.numel() for p in model.parameters()),
                "data": {
                    "train": {"source": train.source, "rows": len(train.texts), "fingerprint": train.fingerprint},
                    "valid": {"source": valid.source, "rows": len(valid.texts), "fingerprint": valid.fingerprint},
                },
                "init_from": str(lm.path) if lm is not None else None,
                "status": "running",
            })
        return (tokenizer, model, info, names, train_ids, y_train, valid_ids, y_valid, resuming)

    def _stored_config(self, given: ClassifierConfig) -> ClassifierConfig:
        """The run's stored config, with the options given now laid over it.

        Only options that bound the run may change on resume; an option left unset takes
        the stored value, so ``--resume`` needs no flag of the first run repeated.
        """
        saved = ClassifierConfig.from_dict(rd.read_json(self.run_dir / rd.CONFIG_FILE, "config"))
        changed = given.resume_differences(saved)
        if changed:
            details = ", ".join(f"{k} ({getattr(saved, k)!r} -> {getattr(given, k)!r})" for k in changed)
            raise ConfigError(f"cannot resume {self.run_dir} with a changed config: {details}")
        bounds = {k: getattr(given, k) for k in RESUMABLE_CHANGES if getattr(given, k) is not None}
        return dataclasses.replace(saved, **bounds)

    def _resolve_defaults(self, cfg: ClassifierConfig, train_texts, valid_texts: int, lm) -> ClassifierConfig:
        """Fill the options left unset from the data, and say what was chosen and why."""
        resolved, lines = classifier_defaults.resolve_for(cfg, train_texts, valid_texts, lm)
        for line in lines:
            self.message(line)
        return resolved

    def _optimizer(self, model, device) -> tuple[torch.optim.Optimizer, list[list[torch.nn.Parameter]]]:
        """AdamW with one parameter group per layer group (bottom to top).

        Discriminative fine-tuning (Howard & Ruder 2018): each group below the top
        learns at the rate of the group above divided by ``lr_decay_per_layer`` (2.6).
        """
        cfg = self.config
        groups = model.layer_groups() if hasattr(model, "layer_groups") else [list(model.parameters())]
        listed = {id(p) for group in groups for p in group}
        rest = [p for p in model.parameters() if id(p) not in listed]
        if rest:
            groups = groups[:-1] + [groups[-1] + rest]
        top = len(groups) - 1
        param_groups = []
        for depth, params in enumerate(groups):
            scale = cfg.lr_decay_per_layer ** -(top - depth) if cfg.discriminative_lr else 1.0
            param_groups.append({"params": params, "lr": cfg.lr * scale, "lr_scale": scale})
        optimizer = torch.optim.AdamW(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99),
                                      fused=device.type == "cuda" or None)
        return optimizer, groups

    # -- the loop -----------------------------------------------------------
    def run(self) -> dict:
        (tokenizer, model, info, names, train_ids, y_train, valid_ids, y_valid, resuming) = self._setup()
        cfg = self.config  # with the defaults resolved, or the stored config of a resumed run
        device = resolve_device(cfg.device)
        if cfg.threads is not None:
            # process-wide: on a busy CPU one thread per process beats threads that wait on each other
            torch.set_num_threads(cfg.threads)
        precision = resolve_precision(cfg.precision, device)
        cast_dtype = autocast_dtype(precision)
        model.to(device)
        optimizer, layer_groups = self._optimizer(model, device)
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        weight = None
        if cfg.class_weights:
            weight = torch.tensor(class_weights(y_train, len(names)), dtype=torch.float32, device=device)
        unk_id = None
        if cfg.token_dropout:
            unknown = tokenizer.unknown_ids()
            if not unknown:
                raise ConfigError(f"token_dropout needs a tokenizer with an unknown token; {tokenizer.type_name!r} has none")
            unk_id = unknown[0]

        lengths = np.fromiter((len(s) for s in train_ids), dtype=np.int64, count=len(train_ids))
        per_epoch = math.ceil(len(train_ids) / cfg.batch_size)
        y_train_t = torch.from_numpy(y_train)

        # Polyak-style average of the weights (--ema): evaluated, checkpointed and served
        # in place of the raw weights, which keep training underneath
        averaged = copy.deepcopy(model).requires_grad_(False) if cfg.ema else None
        if averaged is not None:
            average_pairs = (list(averaged.parameters()), list(model.parameters()))  # fixed for the run
        step, elapsed_before, planned = 0, 0.0, None
        best = {"accuracy": -math.inf, "loss": math.inf, "step": None}
        bad_evals = 0
        if resuming:
            found = ckpt.restore_latest(self.run_dir, model, optimizer, scaler, tokenizer.fingerprint(), self.message)
            meta = found.meta
            step, bad_evals = meta["step"], meta["bad_evals"]
            saved_best = meta["best"]
            best = {"accuracy": -math.inf if saved_best["accuracy"] is None else saved_best["accuracy"],
                    "loss": math.inf if saved_best["loss"] is None else saved_best["loss"],
                    "step": saved_best["step"]}
            planned, elapsed_before = meta.get("planned_steps"), meta.get("elapsed", 0.0)
            if averaged is not None:
                # a run that started without --ema cannot change it on resume (config check)
                ckpt.load_model_tensors(averaged, found.tensors("ema"), meta["model_aliases"])
            rd.truncate_metrics(self.run_dir, step)
            rd.set_status(self.run_dir, "running", error=None)  # until record_exit says how it ended
            self.message(f"resuming {self.run_dir} from {found.path.name} (step {step}, epoch {meta['epoch']}, "
                         f"batch {meta['batch']})", step)

        limit = cfg.max_steps
        if cfg.epochs is not None:
            epoch_steps = max(1, math.ceil(cfg.epochs * per_epoch))
            limit = epoch_steps if limit is None else min(limit, epoch_steps)
        if limit is not None and cfg.time_budget is None:
            planned = limit
        eval_every = cfg.eval_every or per_epoch

        params = sum(p.numel() for p in model.parameters())
        self.emit("start", step, model=str(model), model_name=info.name, parameters=params, device=str(device),
                  precision=precision, vocab_size=tokenizer.vocab_size, tokenizer=tokenizer.type_name,
                  labels=names, train_examples=len(train_ids), valid_examples=len(valid_ids),
                  train_tokens=int(lengths.sum()), valid_tokens=int(sum(len(s) for s in valid_ids)),
                  batches_per_epoch=per_epoch, max_steps=limit, time_budget=cfg.time_budget, resumed=resuming)

        def save(current_step: int, improved: bool) -> Path:
            model_t, aliases = ckpt.model_tensors(model)
            optim_t, optim_meta = ckpt.optimizer_to_tensors(optimizer)
            rng_t, rng_meta = ckpt.capture_rng()
            groups = {"model": model_t, "optimizer": optim_t, "rng": rng_t}
            if averaged is not None:
                groups["ema"] = ckpt.model_tensors(averaged)[0]
            meta = {
                "step": current_step, "epoch": current_step // per_epoch, "batch": current_step % per_epoch,
                "best": {k: _json_number(v) for k, v in best.items()}, "bad_evals": bad_evals,
                "planned_steps": planned, "elapsed": elapsed_before + (time.perf_counter() - t0),
                "tokenizer_fingerprint": tokenizer.fingerprint(), "labels": names, "model_aliases": aliases,
                "optimizer": optim_meta, "rng": rng_meta, "config": cfg.to_dict(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            }
            path = ckpt.save_checkpoint(self.run_dir, current_step,
                                        groups, meta,
                                        keep_last=cfg.keep_last)
            if improved:
                ckpt.mark_best(self.run_dir, path, {"step": current_step, "valid_accuracy": best["accuracy"],
                                                    "valid_loss": best["loss"]})
            self.emit("checkpoint", current_step, path=str(path), best=improved)
            return path

        def evaluate(current_step: int) -> dict:
            judged = averaged if averaged is not None else model
            judged.eval()
            logits = predict_logits(judged, valid_ids, device, autocast_dtype=cast_dtype)  # (N, K)
            model.train()
            loss = F.cross_entropy(logits, torch.from_numpy(y_valid)).item()
            scores = classification_metrics(y_valid, torch.softmax(logits, -1).numpy(), names)
            record = {"kind": "eval", "step": current_step, "epoch": current_step / per_epoch, "valid_loss": loss,
                      "valid_accuracy": scores["accuracy"], "valid_macro_f1": scores["macro_f1"],
                      "time": elapsed_before + time.perf_counter() - t0}
            rd.append_metrics(self.run_dir, record)
            self.emit("eval", current_step, **{k: v for k, v in record.items() if k not in ("kind", "step")})
            if not math.isfinite(loss):
                raise TrainingDiverged(_diverged_message(current_step, self.run_dir))
            return record

        def judge(record: dict) -> bool:
            nonlocal best, bad_evals
            acc, loss = record["valid_accuracy"], record["valid_loss"]
            if cfg.monitor == "accuracy":
                improved = acc > best["accuracy"] or (acc == best["accuracy"] and loss < best["loss"])
            else:
                improved = loss < best["loss"]
            if improved:
                best, bad_evals = {"accuracy": acc, "loss": loss, "step": record["step"]}, 0
            else:
                bad_evals += 1
            return improved

        cast = torch.autocast(device.type, dtype=cast_dtype) if cast_dtype is not None else contextlib.nullcontext()
        model.train()
        t0 = time.perf_counter()
        t_log, loss_sum, loss_count, tokens_seen, rows_seen = t0, torch.zeros((), device=device), 0, 0, 0
        last_saved = step if resuming else -1
        start_step = step
        batches, batches_epoch, frozen_epoch = None, None, None
        status = "failed"
        try:
            while True:
                elapsed = elapsed_before + time.perf_counter() - t0
                if limit is not None and step >= limit:
                    break
                if cfg.time_budget is not None and elapsed >= cfg.time_budget:
                    break
                signum = self._stop_requested()
                if signum:
                    path = save(step, False) if step != last_saved else ckpt.list_checkpoints(self.run_dir)[-1]
                    status = "interrupted"
                    raise TrainingInterrupted(f"training stopped by signal {signum}; checkpoint saved to {path}",
                                              str(path), signum)
                epoch, index = divmod(step, per_epoch)
                if batches_epoch != epoch:
                    batches, batches_epoch = epoch_batches(lengths, cfg.batch_size, cfg.seed, epoch), epoch
                if cfg.gradual_unfreeze and frozen_epoch != epoch:
                    # gradual unfreezing (Howard & Ruder 2018): epoch e trains the top e + 1 layer groups
                    trainable = min(len(layer_groups), epoch + 1)
                    for depth, group in enumerate(layer_groups):
                        for p in group:
                            p.requires_grad_(depth >= len(layer_groups) - trainable)
                    frozen_epoch = epoch
                    if epoch < len(layer_groups):
                        self.message(f"epoch {epoch}: training the top {trainable} of {len(layer_groups)} layer groups",
                                     step)
                rows = batches[index]
                ids, lens = pad_batch([train_ids[i] for i in rows])  # (B, T), (B,)
                y = y_train_t[rows].to(device, non_blocking=True)
                ids = ids.to(device, non_blocking=True)
                if unk_id is not None:
                    # token dropout: whole tokens become <unk>, so unseen words at test time are familiar
                    drop = torch.rand(ids.shape, device=device) < cfg.token_dropout
                    ids = ids.masked_fill(drop, unk_id)
                lr = learning_rate(step, cfg.lr, cfg.warmup_steps, planned, cfg.schedule, cfg.min_lr_ratio)
                for group in optimizer.param_groups:
                    group["lr"] = lr * group["lr_scale"]
                with cast:
                    logits = model(ids, lens)  # (B, K)
                loss = F.cross_entropy(logits.float(), y, weight=weight)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.adversarial:
                    adversarial_step(model, cfg.adversarial, lambda: model(ids, lens), y, weight, cast, scaler)
                if cfg.clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], cfg.clip)
                scaler.step(optimizer)
                scaler.update()
                if averaged is not None:
                    # the decay ramps up as in TensorFlow's ExponentialMovingAverage, so the
                    # random initialisation is forgotten within the first hundred steps
                    decay = min(cfg.ema, (1 + step) / (10 + step))
                    with torch.no_grad():
                        torch._foreach_lerp_(*average_pairs, 1.0 - decay)
                step += 1
                maybe_crash("step", step)
                loss_sum += loss.detach()
                loss_count += 1
                tokens_seen += int(lens.sum())
                rows_seen += len(rows)

                if step == REPLAN_AFTER and cfg.time_budget is not None:
                    planned = _plan(step - start_step, time.perf_counter() - t0, cfg.time_budget - elapsed_before,
                                    step, limit)
                if step % cfg.log_every == 0:
                    mean_loss = (loss_sum / loss_count).item()
                    if not math.isfinite(mean_loss):
                        raise TrainingDiverged(_diverged_message(step, self.run_dir))
                    now = time.perf_counter()
                    span = max(now - t_log, 1e-9)
                    elapsed = elapsed_before + now - t0
                    record = {"kind": "train", "step": step, "loss": mean_loss, "lr": lr,
                              "examples_per_s": rows_seen / span, "tokens_per_s": tokens_seen / span, "time": elapsed}
                    rd.append_metrics(self.run_dir, record)
                    total = planned or limit
                    eta = (total - step) * (now - t0) / max(1, step - start_step) if total else None
                    self.emit("step", step, loss=mean_loss, lr=lr, tokens_per_s=record["tokens_per_s"],
                              examples_per_s=record["examples_per_s"], elapsed=elapsed, total_steps=total, eta=eta,
                              epoch=step / per_epoch)
                    t_log, loss_sum, loss_count, tokens_seen, rows_seen = now, torch.zeros((), device=device), 0, 0, 0
                if step % eval_every == 0:
                    improved = judge(evaluate(step))
                    if cfg.time_budget is not None:
                        planned = _plan(step - start_step, time.perf_counter() - t0,
                                        cfg.time_budget - elapsed_before, step, limit)
                    maybe_crash("after-eval", step)
                    save(step, improved)
                    last_saved = step
                    if cfg.patience is not None and bad_evals >= cfg.patience:
                        self.message(f"early stopping: no improvement in {bad_evals} evaluations", step)
                        break
            if step != last_saved:
                improved = judge(evaluate(step))
                save(step, improved)
            status = "finished"
        finally:
            if rd.is_run(self.run_dir):
                rd.record_exit(self.run_dir, status, steps=step, elapsed=elapsed_before + time.perf_counter() - t0,
                              best_valid_accuracy=_json_number(best["accuracy"]),
                              best_valid_loss=_json_number(best["loss"]))
        summary = {"steps": step, "epochs": step / per_epoch, "best_step": best["step"],
                   "best_valid_accuracy": best["accuracy"], "best_valid_loss": best["loss"],
                   "run_dir": str(self.run_dir)}
        self.emit("end", step, **summary)
        return summary


def adversarial_step(model, epsilon: float, forward, y, weight, cast, scaler) -> None:
    """Add the gradient of the loss at adversarially perturbed embeddings (Miyato et al. 2017).

    The embedding table moves by ``epsilon`` along its own loss gradient (the fast gradient
    method, scaled to L2 norm ``epsilon``), the batch's gradient is accumulated there, and
    the table moves back. Costs a second forward and backward pass per step.
    """
    table = model.embedding.weight
    if table.grad is None:  # frozen (gradual unfreezing): nothing to perturb
        return
    norm = float(table.grad.norm())  # one host read per step
    if not math.isfinite(norm) or norm == 0:
        return
    clean = table.detach().clone()  # restored bitwise afterwards: (w + d) - d need not be w
    with torch.no_grad():
        table.add_(table.grad, alpha=epsilon / norm)
    with cast:
        logits = forward()  # (B, K)
    scaler.scale(F.cross_entropy(logits.float(), y, weight=weight)).backward()
    with torch.no_grad():
        table.copy_(clean)


def _plan(steps_taken: int, seconds: float, budget_left: float, step: int, limit: int | None) -> int:
    """Turn the time budget into a step count from the pace so far, so cosine decay ends on time."""
    per_step = seconds / max(1, steps_taken)
    planned = step + int(max(0.0, budget_left - seconds) / max(per_step, 1e-9))
    return min(planned, limit) if limit is not None else planned


def _diverged_message(step: int, run_dir: Path) -> str:
    good = ckpt.list_checkpoints(run_dir)
    kept = f"the last good checkpoint {good[-1].name} is kept" if good else "no checkpoint had been written yet"
    return f"loss became NaN or infinite at step {step}; {kept}. Try a lower --lr or set --clip (e.g. --clip 1.0)"


def _plain(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.startswith("_")}


def _json_number(value):
    return value if value is None or math.isfinite(value) else None


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass

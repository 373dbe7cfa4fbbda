"""The ``classifier`` task: length-bucketed batches over labelled texts, scored by accuracy.

Data order is a pure function of ``(seed, epoch)`` (:func:`epoch_batches`), so the
data cursor is just the step, and a resumed run takes exactly the uninterrupted run's steps.
Under DDP each process trains on its share of every global batch.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F

from textrnn.classification import classification_metrics, encode_texts, pad_batch, predict_logits
from textrnn.data.labelled import check_classes, class_weights, encode_labels, label_names, load_classifier_splits
from textrnn.errors import ConfigError, RunError
from textrnn.registry import get_model
from textrnn.tokenizers import load_tokenizer, train_tokenizer
from textrnn.training import classifier_defaults
from textrnn.training import run_dir as rd
from textrnn.training.classifier_parts import LanguageModelSource, adversarial_step, epoch_batches
from textrnn.training.loop import seed_all
from textrnn.training.task import RunContext, Task

from .model_setup import build_classifier


class ClassifierTask(Task):
    """Text classifiers: one label per text, the best checkpoint by accuracy (or loss)."""

    name = "classifier"

    @property
    def monitor(self) -> str:
        return "valid_accuracy" if self.config.monitor == "accuracy" else "valid_loss"

    @property
    def monitor_mode(self) -> str:
        return "max" if self.config.monitor == "accuracy" else "min"

    def prepare(self, ctx: RunContext) -> None:
        cfg = self.config
        train, valid, notes = load_classifier_splits(cfg.data, cfg.valid, cfg.valid_fraction, cfg.seed,
                                                     cfg.text_field, cfg.label_field, cfg.encoding_errors)
        for note in notes:
            ctx.message(note)
        check_classes(train.labels, train.source)
        names = label_names(train.labels)
        self.names, self.dist, self.device, self.message = names, ctx.dist, ctx.device, ctx.message
        self.y_train = encode_labels(train.labels, names, train.source)
        self.y_valid = encode_labels(valid.labels, names, valid.source)
        if ctx.resuming:
            info, options, lm = self._stored_model(ctx, names)
        else:
            info, options, lm = self._new_model(ctx, train, valid)
        self._encode(ctx, train, valid)
        seed_all(self.config.seed)
        self.model = build_classifier(info, options, self.tokenizer, lm, ctx.message)
        self.run_fields = self._run_fields(info, options, train, valid, lm)
        self._prepare_batches(ctx)

    def _stored_model(self, ctx: RunContext, names: list[str]):
        stored = ctx.stored_meta
        if stored.get("labels") != names:
            raise RunError(f"cannot resume {ctx.run_dir}: the training data now has labels {names}, "
                           f"the run has {stored.get('labels')}")
        info = get_model(stored["model"], task="classifier")
        self.tokenizer = load_tokenizer(ctx.run_dir / rd.TOKENIZER_DIR)
        return info, info.make_options(stored.get("model_options", {})), None

    def _new_model(self, ctx: RunContext, train, valid):
        cfg = self.config
        lm = LanguageModelSource(cfg.init_from) if cfg.init_from else None
        if lm is not None and cfg.tokenizer is not None and cfg.tokenizer != lm.tokenizer_type:
            raise ConfigError(f"cannot initialise from {lm.path}: it uses the {lm.tokenizer_type!r} tokenizer, "
                              f"not {cfg.tokenizer!r}; a classifier started from a language model uses "
                              "that model's tokenizer")
        cfg, lines = classifier_defaults.resolve_for(cfg, train.texts, len(valid.texts), lm)
        for line in lines:
            ctx.message(line)
        self.config = cfg
        info = get_model(cfg.model, task="classifier")
        options = info.make_options(_model_values(info, cfg, self.names, lm))
        self.tokenizer = lm.tokenizer if lm is not None else \
            train_tokenizer(cfg.tokenizer, train.texts, **cfg.tokenizer_options)
        return info, options, lm

    def _encode(self, ctx: RunContext, train, valid) -> None:
        cfg = self.config
        self.train_ids, cut_train = encode_texts(self.tokenizer, train.texts, cfg.max_length)
        self.valid_ids, cut_valid = encode_texts(self.tokenizer, valid.texts, cfg.max_length)
        if cut_train or cut_valid:
            ctx.message(f"cut {cut_train} training and {cut_valid} validation text(s) to max_length "
                        f"{cfg.max_length} tokens")

    def _run_fields(self, info, options, train, valid, lm) -> dict:
        return {"model": info.name, "plugin": info.plugin,
                "model_options": {k: v for k, v in vars(options).items() if not k.startswith("_")},
                "labels": self.names, "max_length": self.config.max_length,
                "data": {"train": {"source": train.source, "rows": len(train.texts), "fingerprint": train.fingerprint},
                         "valid": {"source": valid.source, "rows": len(valid.texts), "fingerprint": valid.fingerprint}},
                "init_from": str(lm.path) if lm is not None else None}

    def _prepare_batches(self, ctx: RunContext) -> None:
        cfg = self.config
        self.lengths = np.fromiter((len(s) for s in self.train_ids), dtype=np.int64, count=len(self.train_ids))
        self.per_epoch = math.ceil(len(self.train_ids) / cfg.batch_size)
        self.y_train_t = torch.from_numpy(self.y_train)
        self.weight = None
        if cfg.class_weights:
            self.weight = torch.tensor(class_weights(self.y_train, len(self.names)), dtype=torch.float32,
                                       device=ctx.device)
        self.unk_id = None
        if cfg.token_dropout:
            unknown = self.tokenizer.unknown_ids()
            if not unknown:
                raise ConfigError(f"token_dropout needs a tokenizer with an unknown token; "
                                  f"{self.tokenizer.type_name!r} has none")
            self.unk_id = unknown[0]
        self.order, self.order_epoch = None, None

    def steps_per_epoch(self) -> int:
        return self.per_epoch

    def start_fields(self) -> dict:
        return {"tokenizer": self.tokenizer.type_name, "labels": self.names, "train_examples": len(self.train_ids),
                "valid_examples": len(self.valid_ids), "train_tokens": int(self.lengths.sum()),
                "valid_tokens": int(sum(len(s) for s in self.valid_ids)), "batches_per_epoch": self.per_epoch}

    def optimizer(self, model, device):
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
        self.layer_groups = groups
        top = len(groups) - 1
        param_groups = []
        for depth, params in enumerate(groups):
            scale = cfg.lr_decay_per_layer ** -(top - depth) if cfg.discriminative_lr else 1.0
            param_groups.append({"params": params, "lr": cfg.lr * scale, "lr_scale": scale})
        return torch.optim.AdamW(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                 betas=(0.9, cfg.adam_beta2), fused=device.type == "cuda" or None)

    def on_epoch(self, epoch: int, step: int) -> None:
        self.order, self.order_epoch = epoch_batches(self.lengths, self.config.batch_size, self.config.seed, epoch), epoch
        if not self.config.gradual_unfreeze:
            return
        # gradual unfreezing (Howard & Ruder 2018): epoch e trains the top e + 1 layer groups
        groups = self.layer_groups
        trainable = min(len(groups), epoch + 1)
        for depth, group in enumerate(groups):
            for p in group:
                p.requires_grad_(depth >= len(groups) - trainable)
        if epoch < len(groups):
            self.message(f"epoch {epoch}: training the top {trainable} of {len(groups)} layer groups", step)

    def next_batch(self, step: int):
        rows = self.order[step % self.per_epoch]
        rows = rows[self.dist.rank::self.dist.world_size]  # this process's share of the global batch
        ids, lens = pad_batch([self.train_ids[i] for i in rows])  # (B, T), (B,)
        y = self.y_train_t[rows].to(self.device, non_blocking=True)
        ids = ids.to(self.device, non_blocking=True)
        if self.unk_id is not None:
            # token dropout: whole tokens become <unk>, so unseen words at test time are familiar
            drop = torch.rand(ids.shape, device=self.device) < self.config.token_dropout
            ids = ids.masked_fill(drop, self.unk_id)
        return ClassifierBatch(ids, lens, y)

    def batch_units(self, batch) -> dict[str, int]:
        return {"examples": len(batch.labels), "tokens": int(batch.lengths.sum())}

    def loss(self, model, batch):
        logits = model(batch.ids, batch.lengths)  # (B, K)
        return F.cross_entropy(logits.float(), batch.labels, weight=self.weight)

    def after_backward(self, model, batch, scaler) -> None:
        if self.config.adversarial:
            cast = torch.autocast(self.device.type, dtype=self.autocast_dtype) if self.autocast_dtype is not None \
                else contextlib.nullcontext()
            bare = getattr(model, "module", model)  # DDP keeps the model as .module
            adversarial_step(bare, self.config.adversarial, lambda: model(batch.ids, batch.lengths), batch.labels,
                             self.weight, cast, scaler)

    def evaluate(self, model, step: int) -> dict[str, float]:
        logits = predict_logits(model, self.valid_ids, self.device, autocast_dtype=self.autocast_dtype)  # (N, K)
        loss = F.cross_entropy(logits, torch.from_numpy(self.y_valid)).item()
        scores = classification_metrics(self.y_valid, torch.softmax(logits, -1).numpy(), self.names)
        return {"epoch": step / self.per_epoch, "valid_loss": loss, "valid_accuracy": scores["accuracy"],
                "valid_macro_f1": scores["macro_f1"]}

    def improved(self, new: dict, best: dict | None) -> bool:
        if best is None or "valid_accuracy" not in best:
            return math.isfinite(new["valid_loss"])
        if self.config.monitor == "accuracy":
            return new["valid_accuracy"] > best["valid_accuracy"] or (
                new["valid_accuracy"] == best["valid_accuracy"] and new["valid_loss"] < best["valid_loss"])
        return new["valid_loss"] < best["valid_loss"]

    def checkpoint_state(self):
        return {}, {"labels": self.names}

    def position(self, step: int) -> str:
        return f", epoch {step // self.per_epoch}, batch {step % self.per_epoch}"

    def summary(self, best, step: int) -> dict:
        best = best or {}
        return {"epochs": step / self.per_epoch, "best_step": best.get("step"),
                "best_valid_accuracy": best.get("valid_accuracy", -math.inf),
                "best_valid_loss": best.get("valid_loss", math.inf)}


class ClassifierBatch:
    """Padded token ids (B, T), their lengths (B,) and labels (B,)."""

    def __init__(self, ids: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor):
        self.ids, self.lengths, self.labels = ids, lengths, labels


def _model_values(info, cfg, names: list[str], lm) -> dict:
    """The model options: the config's, the class count, and the LM's sizes where unset."""
    values = dict(cfg.model_options)
    fields = {row["name"] for row in info.option_rows()}
    if "num_classes" not in fields:
        raise ConfigError(f"model {info.name!r} has no num_classes option, so the trainer cannot size its output")
    if values.get("num_classes", len(names)) != len(names):
        raise ConfigError(f"num_classes is {values['num_classes']} but the training data has "
                          f"{len(names)} labels ({', '.join(names)})")
    values["num_classes"] = len(names)
    if lm is not None:  # sizes the user did not set follow the language model
        from textrnn.training.classifier_parts import SIZE_OPTIONS

        for name in SIZE_OPTIONS:
            if name in fields and name in lm.options:
                values.setdefault(name, lm.options[name])
    return values

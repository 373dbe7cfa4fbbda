"""Pieces of classifier training that the task plugin and the defaults share.

Data order is a pure function of ``(seed, epoch)``: each epoch shuffles the rows, sorts
them by length within chunks of ~50 batches (so a batch pads little), cuts batches and
shuffles the batches. The data cursor is therefore just the step: epoch ``step //
batches_per_epoch`` and batch ``step % batches_per_epoch`` of that epoch's order.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import RunError
from ..tokenizers import load_tokenizer
from . import checkpoint as ckpt
from . import run_dir as rd

SORT_CHUNK_BATCHES = 50  # rows are sorted by length within chunks of this many batches
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

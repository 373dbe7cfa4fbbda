"""Batched prediction and metrics for classifier runs.

``predict_logits`` runs a classifier over any number of token sequences: sorted by
length so each batch pads little, batched (256 by default), under inference mode, and
returned in input order. ``classification_metrics`` turns probabilities and true
classes into accuracy, macro-F1, per-class precision/recall/F1, a confusion matrix
and log loss.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

PREDICT_BATCH = 256


def pad_batch(sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad with 0: ids (B, T) int64 and lengths (B,) int64. Empty rows get length 0."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    ids = np.zeros((len(sequences), max(1, int(lengths.max(initial=0)))), dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
    return torch.from_numpy(ids), torch.from_numpy(lengths)


def encode_texts(tokenizer, texts: Sequence[str], max_length: int) -> tuple[list[list[int]], int]:
    """Token ids of each text, cut to ``max_length`` tokens; also how many texts were cut."""
    encoded = tokenizer.encode_batch(list(texts))
    cut = 0
    for i, ids in enumerate(encoded):
        if len(ids) > max_length:
            encoded[i] = ids[:max_length]
            cut += 1
    return encoded, cut


@torch.inference_mode()
def predict_logits(model, sequences: Sequence[Sequence[int]], device: torch.device,
                   batch_size: int = PREDICT_BATCH, autocast_dtype=None) -> torch.Tensor:
    """Logits (N, num_classes) as float32 on the CPU, in the order of ``sequences``.

    The model must be in eval mode. Sequences are sorted by length and batched, so a
    batch of 256 pads only to its own longest text.
    """
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    chunks = []
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        ids, lengths = pad_batch([sequences[i] for i in index])
        ids = ids.to(device, non_blocking=True)
        if autocast_dtype is not None:
            with torch.autocast(device.type, dtype=autocast_dtype):
                logits = model(ids, lengths)
        else:
            logits = model(ids, lengths)  # (b, K)
        chunks.append(logits.float().cpu())
    if not chunks:
        return torch.zeros(0, 0)
    sorted_logits = torch.cat(chunks)  # (N, K) in length order
    result = torch.empty_like(sorted_logits)
    result[torch.as_tensor(order)] = sorted_logits
    return result


def classify_texts(model, tokenizer, labels: list[str], texts: Sequence[str], device: torch.device,
                   max_length: int = 1000, batch_size: int = PREDICT_BATCH) -> list[dict]:
    """``[{"label": ..., "probs": {label: p}}]``, one per text, in input order."""
    encoded, _ = encode_texts(tokenizer, texts, max_length)
    probs = torch.softmax(predict_logits(model, encoded, device, batch_size), dim=-1).numpy()
    out = []
    for row in probs:
        out.append({"label": labels[int(row.argmax())], "probs": {name: float(p) for name, p in zip(labels, row)}})
    return out


def classification_metrics(true: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, confusion and log loss.

    :param true: (N,) class indices. :param probs: (N, K) probabilities.
    ``confusion[true_label][predicted_label]`` counts rows. A class with no predictions
    has precision 0 (and one with no rows recall 0), as scikit-learn's zero_division=0.
    """
    true = np.asarray(true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    k = len(labels)
    predicted = probs.argmax(axis=1) if len(true) else np.zeros(0, dtype=np.int64)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    per_class = {}
    f1s = []
    for i, name in enumerate(labels):
        tp = int(matrix[i, i])
        predicted_i = int(matrix[:, i].sum())
        support = int(matrix[i, :].sum())
        precision = tp / predicted_i if predicted_i else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
        f1s.append(f1)
    eps = 1e-15
    chosen = probs[np.arange(len(true)), true] if len(true) else np.zeros(0)
    log_loss = float(-np.log(np.clip(chosen, eps, 1.0)).mean()) if len(true) else math.nan
    return {
        "accuracy": float((predicted == true).mean()) if len(true) else math.nan,
        "macro_f1": float(np.mean(f1s)),
        "per_class": per_class,
        "confusion": {name: {other: int(matrix[i, j]) for j, other in enumerate(labels)}
                      for i, name in enumerate(labels)},
        "log_loss": log_loss,
    }


def evaluate_classifier_run(run, data=None, text_field: str | None = None, label_field: str | None = None,
                            encoding_errors: str | None = None) -> tuple[dict, dict]:
    """Metrics of a loaded classifier run on labelled ``data`` (a path), or on the run's
    own validation split when ``data`` is None. Returns ``(metrics, info)`` where ``info``
    says what was read (``source``, ``rows``, ``skipped_empty``)."""
    from .data.labelled import encode_labels, load_classifier_splits, read_labelled
    from .errors import RunError
    from .training import run_dir as rd
    from .training.classifier_config import ClassifierConfig

    cfg = ClassifierConfig.from_dict(rd.read_json(run.run_dir / rd.CONFIG_FILE, "config"))
    text_field = text_field or cfg.text_field
    label_field = label_field or cfg.label_field
    encoding_errors = encoding_errors or cfg.encoding_errors
    if data is None:
        _, loaded, _ = load_classifier_splits(cfg.data, cfg.valid, cfg.valid_fraction, cfg.seed, cfg.text_field,
                                              cfg.label_field, cfg.encoding_errors)
        recorded = run.meta.get("data", {}).get("valid", {}).get("fingerprint")
        if recorded and recorded != loaded.fingerprint:
            raise RunError(f"the validation data of {run.run_dir} has changed since training; pass FILE explicitly")
    else:
        loaded = read_labelled(data, text_field, label_field, encoding_errors)
    labels = run.meta["labels"]
    true = encode_labels(loaded.labels, labels, loaded.source)
    encoded, _ = encode_texts(run.tokenizer, loaded.texts, cfg.max_length)
    probs = torch.softmax(predict_logits(run.model, encoded, run.device), dim=-1).numpy()
    info = {"source": loaded.source, "rows": len(loaded.texts), "skipped_empty": loaded.skipped_empty}
    return classification_metrics(true, probs, labels), info

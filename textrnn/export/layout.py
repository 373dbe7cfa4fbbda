"""Which models ``textrnn export`` can write out: the layouts it knows, and each model's architecture.

A model is exported from what its class promises, never from guesses about its code:

* a language model that keeps :class:`textrnn.contracts.FusedStepLayout` (its class sets
  ``fused_step_layout = "embedding-rnn-decoder"``): ``embedding`` -> ``rnn`` (a batch-first
  torch RNN/LSTM/GRU) -> ``decoder`` (nn.Linear), dropout only in between;
* a classifier that keeps :class:`textrnn.contracts.ClassifierLayout` (its class sets
  ``classifier_layout = "embedding-rnn-pool-head"``): ``embedding`` -> ``rnn`` (a batch-first,
  possibly bidirectional LSTM/GRU) over the real tokens -> ``pool(states, mask, lengths)``
  (or the final states, for "last") -> ``head``.

Anything else (the ``mlstm`` example plugin, say) is refused with :class:`ExportError`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..contracts import CLASSIFIER_LAYOUT, FUSED_LAYOUT, ClassifierLayout, FusedStepLayout, supports
from ..errors import TextrnnError
POOLINGS = ("last", "max", "mean", "attention", "maxmean")


class ExportError(TextrnnError):
    """A run that cannot be written out in the format asked for."""


def describe(model: nn.Module, task: str, name: str) -> dict[str, Any]:
    """The architecture of ``model`` as JSON: what a plain module or a graph needs to rebuild it.

    :param task: "lm" or "classifier", from the run.
    :param name: the registered model name, for the error message.
    :raises ExportError: when the model's class declares no layout textrnn knows.
    """
    if task == "lm" and supports(model, FusedStepLayout):
        return _describe_lm(model)
    if task == "classifier" and _has_classifier_layout(model):
        return _describe_classifier(model)
    wanted = FUSED_LAYOUT if task == "lm" else CLASSIFIER_LAYOUT
    raise ExportError(
        f"model {name!r} ({type(model).__module__}.{type(model).__name__}) cannot be exported: "
        f"its class does not declare the {wanted!r} layout that textrnn knows how to write out"
    )


def _rnn_sizes(model: nn.Module) -> dict[str, Any]:
    rnn = model.rnn
    return {"cell": model.cell, "vocab_size": model.embedding.num_embeddings,
            "embedding_dim": model.embedding.embedding_dim, "hidden_size": rnn.hidden_size,
            "num_layers": rnn.num_layers}


def _describe_lm(model: nn.Module) -> dict[str, Any]:
    return {"layout": FUSED_LAYOUT, **_rnn_sizes(model),
            "nonlinearity": getattr(model.rnn, "nonlinearity", None),  # "tanh" or "relu" for cell "rnn"
            # the exported weights hold decoder.weight as its own copy either way
            "tied_weights": model.decoder.weight is model.embedding.weight}


def _has_classifier_layout(model: nn.Module) -> bool:
    return supports(model, ClassifierLayout) and getattr(getattr(model, "options", None), "pooling", None) in POOLINGS


def _describe_classifier(model: nn.Module) -> dict[str, Any]:
    return {"layout": CLASSIFIER_LAYOUT, **_rnn_sizes(model), "bidirectional": model.rnn.bidirectional,
            "pooling": model.options.pooling, "num_classes": model.head.out_features}

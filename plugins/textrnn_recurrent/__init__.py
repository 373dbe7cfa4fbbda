"""First-party recurrent language models: ``rnn``, ``lstm`` and ``gru``.

This module stays free of torch so that listing models is instant; the factory
imports :mod:`textrnn_recurrent.lm` when a model is actually built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import textrnn

__version__ = textrnn.__version__

CELLS = ("rnn", "lstm", "gru")


@dataclass
class RecurrentLMOptions:
    """Hyperparameters of a recurrent language model."""

    embedding_dim: int = field(default=128, metadata={"help": "size of the token embedding"})
    hidden_size: int = field(default=256, metadata={"help": "units per recurrent layer"})
    num_layers: int = field(default=2, metadata={"help": "stacked recurrent layers"})
    dropout: float = field(default=0.0, metadata={"help": "dropout between recurrent layers"})
    embedding_dropout: float = field(default=0.0, metadata={"help": "dropout on the embedding output"})
    output_dropout: float = field(default=0.0, metadata={"help": "dropout before the output layer"})
    weight_dropout: float = field(
        default=0.0, metadata={"help": "DropConnect on the hidden-to-hidden weights, one mask per window (AWD-LSTM)"}
    )
    variational: bool = field(
        default=False, metadata={"help": "embedding/output dropout reuses one mask across time steps (locked dropout)"}
    )
    tie_weights: bool = field(
        default=False, metadata={"help": "share input and output embeddings (needs embedding_dim == hidden_size)"}
    )
    init: str = field(
        default="textrnn",
        metadata={"help": "torch (PyTorch's defaults, as a bare loop) or textrnn (forget-gate bias 1, zero output bias)"},
    )

    def __post_init__(self):
        for name in ("embedding_dim", "hidden_size", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("dropout", "embedding_dropout", "output_dropout", "weight_dropout"):
            value = float(getattr(self, name))
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.init not in ("textrnn", "torch"):
            raise ValueError(f"init must be 'textrnn' or 'torch', got {self.init!r}")
        if self.tie_weights and self.embedding_dim != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embedding_dim == hidden_size (got {self.embedding_dim} and {self.hidden_size})"
            )


    @classmethod
    def suggest_options(cls, profile, given: dict) -> dict:
        """Sizes and regularisation for the options the user left unset, from the data profile.

        Character models keep a small embedding and untied weights; subword and word
        models tie the embedding to the output layer (Press & Wolf 2017), which needs
        ``embedding_dim == hidden_size``. Dropout grows with parameters per training token
        (:func:`textrnn.training.lm_defaults.dropout_for`); it stays at 0.1 or less when
        the run reads its text fewer than twice, and is 0 below one pass: a model that sees
        each token once or twice underfits, and dropout only slows it. Initialisation is PyTorch's: against the
        forget-gate bias of 1 it learned faster (docs/recipes.md).
        """
        from textrnn.training.lm_defaults import suggested_dropout

        gpu = profile.device == "cuda"
        char = profile.granularity == "char"
        reason = f"{profile.granularity} text on {profile.device}"
        out = {"init": ("torch", "learns faster than forget-gate bias 1: docs/recipes.md")}
        sizes = {"hidden_size": 512 if gpu else 256, "num_layers": 3 if gpu and char else 2}
        for name, value in sizes.items():
            out[name] = (value, reason)
        hidden = int(given.get("hidden_size", sizes["hidden_size"]))
        tie = bool(given.get("tie_weights", not char))
        out["tie_weights"] = (tie, reason)
        out["embedding_dim"] = (hidden if tie else 64, "tied to hidden_size" if tie else reason)
        layers = int(given.get("num_layers", sizes["num_layers"]))
        embedding = int(given.get("embedding_dim", out["embedding_dim"][0]))
        params = _parameters(profile.vocab_size, embedding, hidden, layers, tie)
        p, why = suggested_dropout(profile, params)
        for name in ("dropout", "embedding_dropout", "output_dropout"):
            out[name] = (p, why)
        return out


def _parameters(vocab: int, embedding: int, hidden: int, layers: int, tied: bool) -> int:
    """An LSTM language model's parameter count (GRU and RNN have fewer: this errs high)."""
    gates = 4
    recurrent = sum(gates * hidden * ((embedding if i == 0 else hidden) + hidden + 2) for i in range(layers))
    return vocab * embedding + recurrent + (0 if tied else vocab * hidden) + vocab


def _factory(cell: str):
    def build(vocab_size: int, options: RecurrentLMOptions):
        from .lm import RecurrentLanguageModel

        return RecurrentLanguageModel(vocab_size, options, cell=cell)

    return build


_DESCRIPTIONS = {
    "rnn": "Elman RNN (tanh) language model on torch.nn.RNN",
    "lstm": "LSTM language model on torch.nn.LSTM (cuDNN on GPU)",
    "gru": "GRU language model on torch.nn.GRU (cuDNN on GPU)",
}


@textrnn.hookimpl
def register_models(register):
    for cell in CELLS:
        # lstm is what `textrnn train lm` trains when no --model is given
        register(cell, _factory(cell), task="lm", options=RecurrentLMOptions, description=_DESCRIPTIONS[cell],
                 default=cell == "lstm")

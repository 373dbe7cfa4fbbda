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

    def __post_init__(self):
        for name in ("embedding_dim", "hidden_size", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("dropout", "embedding_dropout", "output_dropout", "weight_dropout"):
            value = float(getattr(self, name))
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.tie_weights and self.embedding_dim != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embedding_dim == hidden_size (got {self.embedding_dim} and {self.hidden_size})"
            )


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
        register(cell, _factory(cell), task="lm", options=RecurrentLMOptions, description=_DESCRIPTIONS[cell])

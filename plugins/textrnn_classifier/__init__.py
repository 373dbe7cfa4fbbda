"""First-party recurrent text classifiers: ``bilstm`` and ``bigru``.

This module stays free of torch so that listing models is instant; the factory
imports :mod:`textrnn_classifier.model` when a model is actually built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import textrnn

__version__ = textrnn.__version__

POOLINGS = ("last", "max", "mean", "attention", "maxmean")


@dataclass
class RecurrentClassifierOptions:
    """Hyperparameters of a recurrent text classifier.

    The defaults are what did best on SST-2 trained from scratch on a CPU (dev accuracy,
    several seeds): dropout 0.5 on embeddings and pooled states, and additive attention
    pooling, which beat max, mean and max ++ mean with a GRU and tied with them with an LSTM.
    """

    num_classes: int = field(default=2, metadata={"help": "number of labels (set by the trainer from the data)"})
    embedding_dim: int = field(default=128, metadata={"help": "size of the token embedding"})
    hidden_size: int = field(default=128, metadata={"help": "units per recurrent layer and direction"})
    num_layers: int = field(default=1, metadata={"help": "stacked recurrent layers"})
    bidirectional: bool = field(default=True, metadata={"help": "read the text in both directions"})
    embedding_dropout: float = field(default=0.5, metadata={"help": "dropout on the embedding output"})
    dropout: float = field(default=0.5, metadata={"help": "dropout between recurrent layers and on the pooled output"})
    weight_dropout: float = field(
        default=0.0, metadata={"help": "DropConnect on the recurrent (hidden-to-hidden) weights while training (AWD-LSTM)"}
    )
    pooling: str = field(
        default="attention",
        metadata={"help": "how token states become one vector: last, max, mean, attention or maxmean (max ++ mean)"},
    )

    def __post_init__(self):
        for name in ("num_classes", "embedding_dim", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"bidirectional must be true or false, got {self.bidirectional!r}")
        for name in ("dropout", "embedding_dropout", "weight_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")


    @classmethod
    def suggest_options(cls, profile, given: dict) -> dict:
        """Pooling and dropout for the options the user left unset (``{name: (value, reason)}``).

        Attention pooling with dropout 0.5 on embeddings and pooled states did best on
        SST-2 from scratch (docs/recipes.md, section 3). A data set of a few hundred texts
        or fewer overfits at least as easily, so it keeps the same strong dropout; the
        sizes stay the dataclass defaults (256 units did worse on SST-2).
        """
        why = f"measured best on SST-2 (docs/recipes.md), for {profile.train_texts:,} training texts"
        return {"pooling": ("attention", why), "embedding_dropout": (0.5, why), "dropout": (0.5, why)}


def _factory(cell: str):
    def build(vocab_size: int, options: RecurrentClassifierOptions):
        from .model import RecurrentClassifier

        return RecurrentClassifier(vocab_size, options, cell=cell)

    return build


_DESCRIPTIONS = {
    "bilstm": "(bi)directional LSTM text classifier with packed sequences and masked pooling",
    "bigru": "(bi)directional GRU text classifier with packed sequences and masked pooling",
}


@textrnn.hookimpl
def register_models(register):
    # Each starts from the same-celled language model of textrnn_recurrent (init_from_language_model).
    # bigru is the default: the recipe measured best on SST-2 from scratch (docs/recipes.md, section 3).
    for name, cell in (("bilstm", "lstm"), ("bigru", "gru")):
        register(name, _factory(cell), task="classifier", options=RecurrentClassifierOptions,
                 description=_DESCRIPTIONS[name], init_from=(cell,), default=name == "bigru")

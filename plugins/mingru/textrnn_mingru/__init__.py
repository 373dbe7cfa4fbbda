"""textrnn plugin: ``mingru`` and ``minlstm`` language models and the ``bimingru`` classifier.

minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?") drop the hidden state
from their gates, so the recurrence is first-order linear, ``h_t = a_t * h_{t-1} + b_t``,
and a window trains as a log-space parallel scan while generation steps it in O(1).
textrnn imports this module to list models, so it stays free of torch; the factories
import :mod:`textrnn_mingru.model` only when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import textrnn
from textrnn.training.lm_defaults import ScanFamilyDefaults
from textrnn.scan_choice import SCAN_HELP, check_scan_choice

__version__ = "0.1.0"

CELLS = ("mingru", "minlstm")


def _check_sizes(options, names) -> None:
    # textrnn reports a ValueError raised here as one "Error: ..." line
    for name in names:
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")


def _check_dropouts(options, names) -> None:
    for name in names:
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")


@dataclass
class MinRNNOptions(ScanFamilyDefaults):
    """Hyperparameters: `textrnn models` lists them, `--model-option KEY=VALUE` sets them."""

    embedding_dim: int = field(default=128, metadata={"help": "size of the token embedding"})
    hidden_size: int = field(default=256, metadata={"help": "width of the residual stream (or of each layer's output)"})
    num_layers: int = field(default=2, metadata={"help": "stacked minGRU/minLSTM layers"})
    expansion: float = field(
        default=1.0, metadata={"help": "recurrent state size as a multiple of hidden_size (projected back when not 1)"})
    residual: bool = field(
        default=True, metadata={"help": "pre-norm residual blocks with an MLP (the paper's LM); false: plain stacking"})
    mlp_expansion: int = field(
        default=2, metadata={"help": "MLP width as a multiple of hidden_size in residual blocks (0: no MLP)"})
    dropout: float = field(
        default=0.0, metadata={"help": "dropout on each residual branch (plain stacking: between layers)"})
    embedding_dropout: float = field(default=0.0, metadata={"help": "dropout on the embedding output"})
    tie_weights: bool = field(
        default=False, metadata={"help": "share input and output embeddings (needs embedding_dim == hidden_size)"})
    scan: str = field(default="auto", metadata={"help": SCAN_HELP})

    def __post_init__(self):
        _check_sizes(self, ("embedding_dim", "hidden_size", "num_layers"))
        check_scan_choice(self.scan)
        _check_dropouts(self, ("dropout", "embedding_dropout"))
        if isinstance(self.expansion, bool) or not isinstance(self.expansion, (int, float)) or self.expansion <= 0:
            raise ValueError(f"expansion must be a positive number, got {self.expansion!r}")
        if isinstance(self.mlp_expansion, bool) or not isinstance(self.mlp_expansion, int) or self.mlp_expansion < 0:
            raise ValueError(f"mlp_expansion must be an integer of at least 0, got {self.mlp_expansion!r}")
        if self.tie_weights and self.embedding_dim != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embedding_dim == hidden_size (got {self.embedding_dim} and {self.hidden_size})")

    @property
    def state_size(self) -> int:
        """Units of each layer's recurrent state."""
        return max(1, round(self.expansion * self.hidden_size))


@dataclass
class MinGRUClassifierOptions:
    """Hyperparameters of the (bi)directional minGRU text classifier."""

    num_classes: int = field(default=2, metadata={"help": "number of labels (set by the trainer from the data)"})
    embedding_dim: int = field(default=128, metadata={"help": "size of the token embedding"})
    hidden_size: int = field(default=128, metadata={"help": "units per minGRU layer and direction"})
    num_layers: int = field(default=1, metadata={"help": "stacked minGRU layers"})
    bidirectional: bool = field(default=True, metadata={"help": "read the text in both directions"})
    embedding_dropout: float = field(default=0.5, metadata={"help": "dropout on the embedding output"})
    dropout: float = field(default=0.5, metadata={"help": "dropout between layers and on the pooled output"})

    def __post_init__(self):
        _check_sizes(self, ("num_classes", "embedding_dim", "hidden_size", "num_layers"))
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"bidirectional must be true or false, got {self.bidirectional!r}")
        _check_dropouts(self, ("embedding_dropout", "dropout"))


def _lm_factory(cell: str):
    def build(vocab_size: int, options: MinRNNOptions):
        from .model import MinRNNLanguageModel  # torch is imported here, not when models are listed

        return MinRNNLanguageModel(vocab_size, options, cell=cell)

    return build


def build_classifier(vocab_size: int, options: MinGRUClassifierOptions):
    from .classifier import MinGRUClassifier

    return MinGRUClassifier(vocab_size, options)


_DESCRIPTIONS = {
    "mingru": "minGRU language model (Feng et al. 2024): log-space parallel scan, O(1) step",
    "minlstm": "minLSTM language model (Feng et al. 2024): log-space parallel scan, O(1) step",
}


@textrnn.hookimpl
def register_models(register):
    for cell in CELLS:
        register(cell, _lm_factory(cell), task="lm", options=MinRNNOptions, description=_DESCRIPTIONS[cell])
    register("bimingru", build_classifier, task="classifier", options=MinGRUClassifierOptions,
             description="(bi)directional minGRU text classifier, scanned in parallel, max ++ mean pooling")

"""textrnn plugin: ``hawk``, the Hawk language model (De et al. 2024, "Griffin: Mixing Gated
Linear Recurrences with Local Attention for Efficient Language Models").

Hawk stacks residual blocks of a temporal mixing block (a width-4 causal convolution and
the RG-LRU, a real-gated diagonal linear recurrence) and a gated MLP. The RG-LRU's
gates read only the input, so a window trains with a parallel scan and generation steps
in O(1). textrnn imports this module to list models, so it stays free of torch; the
factory imports :mod:`textrnn_hawk.model` only when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import textrnn
from textrnn.training.lm_defaults import ScanFamilyDefaults
from textrnn.scan_choice import SCAN_HELP, check_scan_choice

__version__ = "0.1.0"


@dataclass
class HawkOptions(ScanFamilyDefaults):
    """Hyperparameters: `textrnn models` lists them, `--model-option KEY=VALUE` sets them."""

    embedding_dim: int = field(default=128, metadata={"help": "size of the token embedding"})
    hidden_size: int = field(default=256, metadata={"help": "width of the residual stream"})
    num_layers: int = field(default=2, metadata={"help": "stacked Hawk residual blocks"})
    expansion: float = field(
        default=4 / 3, metadata={"help": "RG-LRU width as a multiple of hidden_size (the paper's 4/3)"})
    mlp_expansion: int = field(
        default=3, metadata={"help": "gated-MLP width as a multiple of hidden_size (the paper's 3; 0: no MLP)"})
    conv_width: int = field(default=4, metadata={"help": "taps of the causal temporal convolution (the paper's 4)"})
    gate_power: float = field(
        default=8.0, metadata={"help": "c in a_t = a^(c r_t): how far the recurrence gate can shorten memory"})
    dropout: float = field(default=0.0, metadata={"help": "dropout on each residual branch"})
    embedding_dropout: float = field(default=0.0, metadata={"help": "dropout on the embedding output"})
    tie_weights: bool = field(
        default=False, metadata={"help": "share input and output embeddings (needs embedding_dim == hidden_size)"})
    scan: str = field(default="auto", metadata={"help": SCAN_HELP})

    def __post_init__(self):
        check_scan_choice(self.scan)
        # textrnn reports a ValueError raised here as one "Error: ..." line
        for name in ("embedding_dim", "hidden_size", "num_layers", "conv_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
        if isinstance(self.mlp_expansion, bool) or not isinstance(self.mlp_expansion, int) or self.mlp_expansion < 0:
            raise ValueError(f"mlp_expansion must be an integer of at least 0, got {self.mlp_expansion!r}")
        for name in ("expansion", "gate_power"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name in ("dropout", "embedding_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        if self.tie_weights and self.embedding_dim != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embedding_dim == hidden_size (got {self.embedding_dim} and {self.hidden_size})")

    @property
    def lru_width(self) -> int:
        """Units of each block's RG-LRU state."""
        return max(1, round(self.expansion * self.hidden_size))


def build(vocab_size: int, options: HawkOptions):
    from .model import HawkLanguageModel  # torch is imported here, not when models are listed

    return HawkLanguageModel(vocab_size, options)


@textrnn.hookimpl
def register_models(register):
    register("hawk", build, task="lm", options=HawkOptions,
             description="Hawk (De et al. 2024): causal conv + RG-LRU blocks, parallel scan, O(1) step")

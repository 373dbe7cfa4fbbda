"""textrnn plugin: ``xlstm``, a language model of xLSTM's matrix-memory mLSTM blocks (Beck et al. 2024).

Not to be confused with ``mlstm`` (plugins/mlstm), the *multiplicative* LSTM of Krause et
al. 2016: this is the mLSTM of "xLSTM: Extended Long Short-Term Memory", a matrix memory
trained chunkwise in parallel and stepped in O(1) per token. textrnn imports this module
to list models, so it stays free of torch; the factory imports :mod:`textrnn_xlstm.model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import textrnn
from textrnn.training.lm_defaults import ScanFamilyDefaults

__version__ = "0.1.0"

FORMS = ("chunkwise", "recurrent")
FORGET_GATES = ("sigmoid", "exp")


@dataclass
class XLSTMOptions(ScanFamilyDefaults):
    """Hyperparameters: `textrnn models` lists them, `--model-option KEY=VALUE` sets them."""

    tied_width: ClassVar[str] = "embedding_dim"  # the embedding is the residual stream

    embedding_dim: int = field(default=128, metadata={"help": "size of the token embedding and of the residual stream"})
    num_layers: int = field(default=2, metadata={"help": "stacked mLSTM blocks"})
    num_heads: int = field(default=4, metadata={"help": "memory heads per block; each has a (d, d) matrix memory"})
    expansion: int = field(default=2, metadata={
        "help": "up-projection factor: the mLSTM runs at expansion * embedding_dim, split over the heads"})
    conv_kernel: int = field(default=4, metadata={"help": "width of the causal convolution on the query/key path"})
    qkv_block_size: int = field(default=4, metadata={
        "help": "block size of the block-diagonal query/key/value projections (xLSTM's headwise projection)"})
    chunk_size: int = field(default=64, metadata={
        "help": "steps computed in parallel per chunk when training; the state is carried between chunks"})
    forget_gate: str = field(default="sigmoid", metadata={"help": "forget gate: sigmoid or exp (both in log space)"})
    form: str = field(default="chunkwise", metadata={
        "help": "how a window of more than one token is computed: chunkwise, or recurrent (step by step, "
                "for checking); one token always takes the recurrent step"})
    dropout: float = field(default=0.0, metadata={"help": "dropout on each block's output and before the decoder"})
    embedding_dropout: float = field(default=0.0, metadata={"help": "dropout on the embedding output"})
    tie_weights: bool = field(default=True, metadata={"help": "share input and output embeddings"})

    def __post_init__(self):
        # textrnn reports a ValueError raised here as one "Error: ..." line
        for name in ("embedding_dim", "num_layers", "num_heads", "expansion", "qkv_block_size",
                     "chunk_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("dropout", "embedding_dropout"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if int(self.conv_kernel) < 2:
            raise ValueError(f"conv_kernel must be at least 2 (a causal convolution), got {self.conv_kernel}")
        inner = self.expansion * self.embedding_dim
        if inner % self.num_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must divide expansion * embedding_dim ({inner})")
        if inner % self.qkv_block_size:
            raise ValueError(f"qkv_block_size ({self.qkv_block_size}) must divide expansion * embedding_dim ({inner})")
        if self.forget_gate not in FORGET_GATES:
            raise ValueError(f"forget_gate must be one of {', '.join(FORGET_GATES)}, got {self.forget_gate!r}")
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}, got {self.form!r}")


def build(vocab_size: int, options: XLSTMOptions):
    from .model import XLSTMLanguageModel  # torch is imported here, not when models are listed

    return XLSTMLanguageModel(vocab_size, options)


@textrnn.hookimpl
def register_models(register):
    register("xlstm", build, task="lm", options=XLSTMOptions,
             description="xLSTM's matrix-memory mLSTM blocks (Beck et al. 2024), trained chunkwise, stepped in O(1)")

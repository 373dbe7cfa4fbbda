"""minGRU / minLSTM language models: embedding -> stacked min-RNN layers -> decoder.

Two layouts, as in Feng et al. 2024. ``residual=True`` (the paper's language model,
after lucidrains/minGRU-pytorch): pre-norm residual blocks, each a min-RNN branch and an
MLP branch, with dropout on both branches and a final LayerNorm. ``residual=False``:
layers stacked as classic RNN layers are, with dropout between them.

Every module here has a window form, ``forward``, that scans in parallel, and a one-token
form, ``step``; :meth:`MinRNNLanguageModel.step` is what generation calls per token.
"""

from __future__ import annotations

import torch
from torch import nn

from textrnn.dropout import dropout as _dropout

from . import MinRNNOptions
from .cells import CELLS

State = tuple[torch.Tensor, ...]


class MinRNNLayer(nn.Module):
    """A cell whose state may be wider than its input and output (``expansion``), projected back."""

    def __init__(self, cell: str, size: int, state_size: int, scan: str = "auto"):
        super().__init__()
        self.cell = CELLS[cell](size, state_size, scan)
        self.out = nn.Linear(state_size, size, bias=False) if state_size != size else nn.Identity()

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        states = self.cell(x, h)  # (B, T, S) float32
        return self.out(states.to(x.dtype)), states[:, -1]

    def step(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.cell.step(x, h)  # (B, S)
        return self.out(h.to(x.dtype)), h


class ResidualBlock(nn.Module):
    """x + drop(rnn(norm(x))), then x + drop(mlp(norm(x))): the paper's block with its MLP."""

    def __init__(self, cell: str, options: MinRNNOptions):
        super().__init__()
        size = options.hidden_size
        self.rnn_norm = nn.LayerNorm(size)
        self.rnn = MinRNNLayer(cell, size, options.state_size, options.scan)
        self.mlp = None
        if options.mlp_expansion:
            width = options.mlp_expansion * size
            self.mlp_norm = nn.LayerNorm(size)
            self.mlp = nn.Sequential(nn.Linear(size, width), nn.GELU(), nn.Linear(width, size))
        self.dropout = _dropout(options.dropout)

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mlp is None else x + self.dropout(self.mlp(self.mlp_norm(x)))

    def forward(self, x, h):
        y, h = self.rnn(self.rnn_norm(x), h)  # (B, T, D)
        return self._mlp(x + self.dropout(y)), h

    def step(self, x, h):
        y, h = self.rnn.step(self.rnn_norm(x), h)  # (B, D)
        return self._mlp(x + self.dropout(y)), h


class StackedLayer(nn.Module):
    """A layer of a plain stack: dropout on its input (above layer 0), then the min-RNN."""

    def __init__(self, cell: str, options: MinRNNOptions, first: bool):
        super().__init__()
        self.dropout = _dropout(0.0 if first else options.dropout)
        self.rnn = MinRNNLayer(cell, options.hidden_size, options.state_size, options.scan)

    def forward(self, x, h):
        return self.rnn(self.dropout(x), h)

    def step(self, x, h):
        return self.rnn.step(self.dropout(x), h)


class MinRNNLanguageModel(nn.Module):
    """``forward(ids (B, T), state) -> (logits (B, T, V), state)``, the window scanned in parallel;
    ``step(ids (B,), state) -> (logits (B, V), state)``, one token in O(1).

    ``state`` is ``(h,)`` with h (num_layers, B, state_size) in float32.
    """

    def __init__(self, vocab_size: int, options: MinRNNOptions, cell: str = "mingru"):
        super().__init__()
        self.options = options
        self.cell = cell
        self.vocab_size = vocab_size
        size = options.hidden_size
        self.embedding = nn.Embedding(vocab_size, options.embedding_dim)
        self.embedding_dropout = _dropout(options.embedding_dropout)
        self.input = nn.Linear(options.embedding_dim, size) if options.embedding_dim != size else nn.Identity()
        if options.residual:
            self.layers = nn.ModuleList(ResidualBlock(cell, options) for _ in range(options.num_layers))
            self.norm = nn.LayerNorm(size)
        else:
            self.layers = nn.ModuleList(StackedLayer(cell, options, i == 0) for i in range(options.num_layers))
            self.norm = _dropout(options.dropout)  # plain stacks drop out before the decoder too
        self.decoder = nn.Linear(size, vocab_size)
        nn.init.normal_(self.embedding.weight, std=0.1)
        nn.init.zeros_(self.decoder.bias)
        if options.tie_weights:
            self.decoder.weight = self.embedding.weight  # weight tying: Press & Wolf 2017

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> State:
        """The zero state: ``(h,)`` with h (num_layers, batch, state_size) float32."""
        device = device if device is not None else self.embedding.weight.device
        return (torch.zeros(len(self.layers), batch, self.options.state_size, device=device),)

    def forward(self, ids: torch.Tensor, state: State | None = None):
        (h0,) = state if state is not None else self.initial_state(ids.shape[0], ids.device)  # (L, B, S)
        x = self.input(self.embedding_dropout(self.embedding(ids)))  # (B, T, D)
        finals = []
        for layer, h in zip(self.layers, h0):
            x, h = layer(x, h)  # x (B, T, D), h (B, S)
            finals.append(h)
        return self.decoder(self.norm(x)), (torch.stack(finals),)  # (B, T, V)

    def step(self, ids: torch.Tensor, state: State | None = None):
        (h0,) = state if state is not None else self.initial_state(ids.shape[0], ids.device)
        x = self.input(self.embedding_dropout(self.embedding(ids)))  # (B, D)
        finals = []
        for layer, h in zip(self.layers, h0):
            x, h = layer.step(x, h)
            finals.append(h)
        return self.decoder(self.norm(x)), (torch.stack(finals),)  # (B, V)

"""The xLSTM language model: embedding -> mLSTM blocks -> layer norm -> decoder (Beck et al. 2024).

One block, as in the paper's Figure 10 (the mLSTM block with pre up-projection)::

    x -> LayerNorm -> up-projection to 2 x inner: (x_m, z)
    x_m -> causal conv -> SiLU -> x_c;  q, k from x_c;  v from x_m    (block-diagonal projections)
    input and forget gates from [q, k, v], one per head
    h = mLSTM(q, k, v, gates)                                           (cell.py)
    h = (GroupNorm(h) + skip * x_c) * SiLU(z) -> down-projection -> dropout -> + x

The carried state of the whole model is ``(C, n, m, conv)``, each with the layer on dim 0
and the batch on dim 1: C (L, B, H, d, d), n (L, B, H, d), m (L, B, H) and the last
``conv_kernel - 1`` inputs of the convolution, conv (L, B, K-1, inner). All float32.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from textrnn.dropout import dropout as _dropout

from . import XLSTMOptions, cell

State = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _small_init(weight: torch.Tensor, fan_in: int) -> None:
    # "small init" of Nguyen & Salazar 2019, as xLSTM initialises its projections
    nn.init.normal_(weight, std=math.sqrt(2 / (5 * fan_in)))


class BlockDiagonal(nn.Module):
    """A square linear map made of independent (b, b) blocks: xLSTM's headwise q/k/v projection."""

    def __init__(self, size: int, block: int):
        super().__init__()
        self.block = block
        self.weight = nn.Parameter(torch.empty(size // block, block, block))  # (blocks, out, in)
        _small_init(self.weight, block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blocks = x.unflatten(-1, (-1, self.block))  # (B, T, blocks, b)
        return torch.einsum("btni,noi->btno", blocks, self.weight).flatten(-2)  # (B, T, size)


class MLSTMBlock(nn.Module):
    """One residual mLSTM block: ``forward(x, state, form, chunk_size) -> (x, state)``, x (B, T, D)."""

    def __init__(self, options: XLSTMOptions, num_blocks: int):
        super().__init__()
        dim = options.embedding_dim
        inner = options.expansion * dim
        self.heads = options.num_heads
        self.head_dim = inner // options.num_heads
        self.kernel = options.conv_kernel
        self.exp_forget = options.forget_gate == "exp"
        self.norm = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, 2 * inner, bias=False)
        self.conv = nn.Conv1d(inner, inner, options.conv_kernel, groups=inner)  # depthwise, applied causally
        self.query = BlockDiagonal(inner, options.qkv_block_size)
        self.key = BlockDiagonal(inner, options.qkv_block_size)
        self.value = BlockDiagonal(inner, options.qkv_block_size)
        self.gates = nn.Linear(3 * inner, 2 * self.heads)  # input then forget pre-activations, one per head
        self.head_norm = nn.Parameter(torch.ones(inner))  # scale of the per-head (group) norm
        self.skip = nn.Parameter(torch.ones(inner))  # learnable skip from the conv output
        self.down = nn.Linear(inner, dim, bias=False)
        self.dropout = _dropout(options.dropout)
        self._init_weights(dim, num_blocks)

    def _init_weights(self, dim: int, num_blocks: int) -> None:
        _small_init(self.up.weight, dim)
        # "wang init" of the output projection, scaled down with depth, as in NX-AI/xlstm
        nn.init.normal_(self.down.weight, std=2 / num_blocks / math.sqrt(dim))
        with torch.no_grad():
            # gates start from their biases: input gate near exp(0), forget gate near 1 with
            # per-head time scales from sigmoid(3) to sigmoid(6), as the reference implementation
            self.gates.weight.zero_()
            nn.init.normal_(self.gates.bias[: self.heads], std=0.1)
            forget = torch.linspace(3.0, 6.0, self.heads)
            self.gates.bias[self.heads :] = F.logsigmoid(forget) if self.exp_forget else forget

    def forward(self, x: torch.Tensor, state: State, form: str, chunk_size: int) -> tuple[torch.Tensor, State]:
        c, n, m, conv_state = state
        x_m, z = self.up(self.norm(x)).chunk(2, dim=-1)  # each (B, T, inner)
        window = torch.cat([conv_state.to(x_m.dtype), x_m], dim=1)  # (B, K-1+T, inner)
        x_c = F.silu(F.conv1d(window.transpose(1, 2), self.conv.weight, self.conv.bias,
                              groups=self.conv.groups).transpose(1, 2))  # (B, T, inner)
        q, k, v = self.query(x_c), self.key(x_c), self.value(x_m)  # each (B, T, inner)
        log_i, forget = self.gates(torch.cat([q, k, v], dim=-1)).float().chunk(2, dim=-1)  # each (B, T, H)
        with torch.autocast(x.device.type, enabled=False):
            # the cell runs in float32 under autocast: the log-space gates and the carried memory need it
            log_f = forget if self.exp_forget else F.logsigmoid(forget)
            q, k, v = (self._heads(t) for t in (q, k, v))  # each (B, H, T, d)
            k = k / math.sqrt(self.head_dim)
            log_i, log_f = log_i.transpose(1, 2), log_f.transpose(1, 2)  # (B, H, T)
            if form == "chunkwise":
                h, (c, n, m) = cell.chunkwise(q, k, v, log_i, log_f, (c, n, m), chunk_size)
            else:
                h, (c, n, m) = cell.recurrent(q, k, v, log_i, log_f, (c, n, m))
            h = F.layer_norm(h.transpose(1, 2), (self.head_dim,))  # (B, T, H, d): the group norm
            h = h.flatten(-2) * self.head_norm  # (B, T, inner)
        h = (h + self.skip * x_c) * F.silu(z)  # (B, T, inner)
        out = x + self.dropout(self.down(h.to(x_c.dtype)))  # (B, T, D)
        return out, (c, n, m, window[:, window.shape[1] - (self.kernel - 1):].float())

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)  # (B, H, T, d)


class XLSTMLanguageModel(nn.Module):
    """Embedding -> mLSTM blocks -> LayerNorm -> linear decoder over the vocabulary.

    ``forward(ids, state)`` returns ``(logits, state)``; ``state`` is ``(C, n, m, conv)``
    (see the module docstring). A window of one token takes the recurrent step, O(1) per
    token, so generation calling ``forward`` token by token is a recurrent generator.
    """

    def __init__(self, vocab_size: int, options: XLSTMOptions):
        super().__init__()
        self.options = options
        self.vocab_size = vocab_size
        dim = options.embedding_dim
        self.embedding = nn.Embedding(vocab_size, dim)
        self.embedding_dropout = _dropout(options.embedding_dropout)
        self.blocks = nn.ModuleList(MLSTMBlock(options, options.num_layers) for _ in range(options.num_layers))
        self.norm = nn.LayerNorm(dim)
        self.output_dropout = _dropout(options.dropout)
        self.decoder = nn.Linear(dim, vocab_size)
        _small_init(self.embedding.weight, dim)
        nn.init.zeros_(self.decoder.bias)
        if options.tie_weights:
            self.decoder.weight = self.embedding.weight  # weight tying: Press & Wolf 2017

    def initial_state(self, batch: int, like: torch.Tensor) -> State:
        """The zero state for ``batch`` rows, float32, on ``like``'s device."""
        block = self.blocks[0]
        layers = len(self.blocks)
        c, n, m = (s.expand(layers, *s.shape).clone()
                   for s in cell.zero_state(batch, block.heads, block.head_dim, like))
        conv = like.new_zeros(layers, batch, block.kernel - 1, block.heads * block.head_dim, dtype=torch.float32)
        return c, n, m, conv

    def forward(self, ids: torch.Tensor, state: State | None = None):
        x = self.embedding_dropout(self.embedding(ids))  # (B, T, D)
        if state is None:
            state = self.initial_state(ids.shape[0], x)
        form = "recurrent" if ids.shape[1] == 1 else self.options.form
        new_state = []
        for index, block in enumerate(self.blocks):
            x, layer_state = block(x, tuple(s[index] for s in state), form, self.options.chunk_size)
            new_state.append(layer_state)
        logits = self.decoder(self.output_dropout(self.norm(x)))  # (B, T, V)
        return logits, tuple(torch.stack(s) for s in zip(*new_state))

"""Multiplicative LSTM (Krause et al. 2016, "Multiplicative LSTM for sequence modelling").

An LSTM whose gates read an input-dependent transform of the previous hidden state::

    m_t = (W_mx x_t) * (W_mh h_{t-1})             # the multiplicative intermediate state
    i_t, f_t, o_t = sigmoid(W_.x x_t + W_.m m_t + b_.)
    u_t = tanh(W_ux x_t + W_um m_t + b_u)          # the candidate (h-hat in the paper)
    c_t = f_t * c_{t-1} + i_t * u_t
    h_t = o_t * tanh(c_t)

so each input token picks its own recurrent transition. torch has no fused kernel for it,
so the recurrence is a Python loop over time; everything that does not depend on
h_{t-1} is computed for the whole window at once before the loop.
"""

from __future__ import annotations

import torch
from torch import nn

from . import MLSTMOptions


def _dropout(p: float) -> nn.Module:
    return nn.Dropout(p) if p > 0 else nn.Identity()


class MLSTMLayer(nn.Module):
    """One mLSTM layer: ``forward(x, h, c)`` with x (B, T, I) and h, c (B, H)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.input_gates = nn.Linear(input_size, 4 * hidden_size)  # W_ix, W_fx, W_ox, W_ux and the biases
        self.input_m = nn.Linear(input_size, hidden_size, bias=False)  # W_mx
        self.hidden_m = nn.Linear(hidden_size, hidden_size, bias=False)  # W_mh
        self.m_gates = nn.Linear(hidden_size, 4 * hidden_size, bias=False)  # W_im, W_fm, W_om, W_um
        with torch.no_grad():
            # forget-gate bias 1: Jozefowicz et al. 2015; gate order is i, f, o, u
            self.input_gates.bias[hidden_size : 2 * hidden_size].fill_(1.0)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        gates_x = self.input_gates(x)  # (B, T, 4H): the input half of every gate, all steps at once
        m_x = self.input_m(x)  # (B, T, H)
        outputs = []
        for t in range(x.shape[1]):
            m = m_x[:, t] * self.hidden_m(h)  # (B, H)
            # the cell arithmetic runs in float32 so that a carried state keeps its precision under autocast
            gates = (gates_x[:, t] + self.m_gates(m)).float()  # (B, 4H)
            i, f, o, u = gates.chunk(4, dim=1)  # each (B, H)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(u)
            h = torch.sigmoid(o) * torch.tanh(c)  # (B, H)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h, c  # (B, T, H), (B, H), (B, H)


class MLSTMLanguageModel(nn.Module):
    """Embedding -> stacked mLSTM layers -> linear decoder over the vocabulary.

    ``forward(ids, state)`` returns ``(logits, state)``; ``state`` is ``(h, c)``, each
    (num_layers, batch, hidden_size), laid out as ``nn.LSTM`` lays out its state.
    """

    def __init__(self, vocab_size: int, options: MLSTMOptions):
        super().__init__()
        self.options = options
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, options.embedding_dim)
        self.embedding_dropout = _dropout(options.embedding_dropout)
        sizes = [options.embedding_dim] + [options.hidden_size] * (options.num_layers - 1)
        self.layers = nn.ModuleList(MLSTMLayer(size, options.hidden_size) for size in sizes)
        self.layer_dropout = _dropout(options.dropout)
        self.output_dropout = _dropout(options.output_dropout)
        self.decoder = nn.Linear(options.hidden_size, vocab_size)
        nn.init.normal_(self.embedding.weight, std=0.1)
        nn.init.zeros_(self.decoder.bias)
        if options.tie_weights:
            self.decoder.weight = self.embedding.weight  # weight tying: Press & Wolf 2017

    def forward(self, ids: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None):
        batch = ids.shape[0]
        x = self.embedding_dropout(self.embedding(ids))  # (B, T, E)
        if state is None:
            zeros = x.new_zeros(len(self.layers), batch, self.options.hidden_size, dtype=torch.float32)
            state = (zeros, zeros)
        h0, c0 = state  # each (L, B, H)
        hs, cs = [], []
        for index, layer in enumerate(self.layers):
            if index > 0:
                x = self.layer_dropout(x)
            x, h, c = layer(x, h0[index], c0[index])  # x: (B, T, H)
            hs.append(h)
            cs.append(c)
        logits = self.decoder(self.output_dropout(x))  # (B, T, V)
        return logits, (torch.stack(hs), torch.stack(cs))

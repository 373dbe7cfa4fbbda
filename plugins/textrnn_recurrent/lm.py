"""Recurrent language model built on torch's fused RNN modules."""

from __future__ import annotations

import torch
from torch import nn
from torch import _VF

from textrnn import weight_drop
from textrnn.dropout import dropout as _dropout

from . import RecurrentLMOptions

_MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentLanguageModel(nn.Module):
    """Embedding -> stacked RNN/LSTM/GRU -> linear decoder over the vocabulary.

    ``forward(ids, state)`` returns ``(logits, state)``; ``state`` is a tuple of tensors
    shaped (num_layers, batch, hidden_size): ``(h, c)`` for an LSTM, ``(h,)`` otherwise.
    """

    # Lets textrnn.inference generate with its hand-fused step instead of forward().
    fused_step_layout = "embedding-rnn-decoder"

    def __init__(self, vocab_size: int, options: RecurrentLMOptions, cell: str = "lstm"):
        super().__init__()
        self.options = options
        self.cell = cell
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, options.embedding_dim)
        self.embedding_dropout = _dropout(options.embedding_dropout, options.variational)
        self.rnn = _MODULES[cell](
            options.embedding_dim,
            options.hidden_size,
            num_layers=options.num_layers,
            dropout=options.dropout if options.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.output_dropout = _dropout(options.output_dropout, options.variational)
        self.decoder = nn.Linear(options.hidden_size, vocab_size)
        if options.tie_weights:
            self.decoder.weight = self.embedding.weight  # weight tying: Press & Wolf 2017
        if options.init == "textrnn":
            self._init_weights()

    def _init_weights(self) -> None:
        # Unit-variance embeddings (torch's default) drive deep stacks out of the unigram plateau
        # quickly: at std 0.1 a 3x1024 LSTM sat at unigram loss for 1,300 steps on an H100. Tied
        # weights double as the output layer, where unit variance would blow up the first logits.
        nn.init.normal_(self.embedding.weight, std=0.1 if self.options.tie_weights else 1.0)
        nn.init.zeros_(self.decoder.bias)
        if self.cell == "lstm":
            # forget-gate bias 1: Jozefowicz et al. 2015; gate order is i, f, g, o
            hidden = self.options.hidden_size
            for name, param in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        param[hidden : 2 * hidden].fill_(1.0)

    def forward(self, ids: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None):
        x = self.embedding_dropout(self.embedding(ids))  # (B, T, E)
        if self.cell != "lstm" and state is not None:
            state = state[0]
        out, new_state = self._recurrent(x, state)  # out: (B, T, H)
        new_state = new_state if self.cell == "lstm" else (new_state,)
        logits = self.decoder(self.output_dropout(out))  # (B, T, V)
        return logits, new_state

    def _recurrent(self, x: torch.Tensor, state):
        """The RNN module, with DropConnect on its recurrent weights while training
        (:mod:`textrnn.weight_drop`): every time step of a window sees the same dropped weights."""
        p = self.options.weight_dropout
        if not (self.training and p > 0):
            return self.rnn(x, state)
        rnn = self.rnn
        weights = weight_drop.dropped_weights(rnn, p)
        if state is None:
            zeros = x.new_zeros(rnn.num_layers, x.shape[0], rnn.hidden_size)  # (L, B, H)
            state = (zeros, zeros) if self.cell == "lstm" else zeros
        if self.cell == "rnn":
            kernel = _VF.rnn_tanh if rnn.nonlinearity == "tanh" else _VF.rnn_relu
        else:
            kernel = _VF.lstm if self.cell == "lstm" else _VF.gru
        out, *new_state = weight_drop.call_kernel(kernel, x, state, weights, rnn.bias, rnn.num_layers, rnn.dropout,
                                                  self.training, rnn.bidirectional, rnn.batch_first)
        return out, (tuple(new_state) if self.cell == "lstm" else new_state[0])

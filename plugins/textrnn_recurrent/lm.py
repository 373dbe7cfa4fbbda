"""Recurrent language model built on torch's fused RNN modules."""

from __future__ import annotations

import torch
from torch import nn

from . import RecurrentLMOptions

_MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _dropout(p: float) -> nn.Module:
    return nn.Dropout(p) if p > 0 else nn.Identity()  # p=0 dropout still costs a kernel per step


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
        self.embedding_dropout = _dropout(options.embedding_dropout)
        self.rnn = _MODULES[cell](
            options.embedding_dim,
            options.hidden_size,
            num_layers=options.num_layers,
            dropout=options.dropout if options.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.output_dropout = _dropout(options.output_dropout)
        self.decoder = nn.Linear(options.hidden_size, vocab_size)
        if options.tie_weights:
            self.decoder.weight = self.embedding.weight  # weight tying: Press & Wolf 2017
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.normal_(self.embedding.weight, std=0.1)
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
        if self.cell == "lstm":
            out, (h, c) = self.rnn(x, state)  # out: (B, T, H)
            new_state = (h, c)
        else:
            out, h = self.rnn(x, state[0] if state is not None else None)
            new_state = (h,)
        logits = self.decoder(self.output_dropout(out))  # (B, T, V)
        return logits, new_state

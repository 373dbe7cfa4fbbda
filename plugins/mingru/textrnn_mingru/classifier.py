"""A (bi)directional minGRU text classifier: embedding -> minGRU layers -> max ++ mean pooling -> linear.

The forward direction is the causal scan, so padding after a text never reaches its
states. The backward direction reads each row reversed within its own length (row
``b``'s position ``t`` reads token ``length_b - 1 - t``), so it too starts at the text's
last real token, not at the padding. Pooling masks padded positions: a text gets the same
logits alone or padded inside any batch.
"""

from __future__ import annotations

import torch
from torch import nn

from . import MinGRUClassifierOptions
from .cells import MinGRUCell


def _reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row of x (B, T, F) within its first ``lengths`` positions; an involution there."""
    steps = torch.arange(x.shape[1], device=x.device)
    index = (lengths.unsqueeze(1) - 1 - steps).clamp(min=0)  # (B, T); padded positions read position 0
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class MinGRUClassifier(nn.Module):
    """``forward(ids (B, T), lengths (B,)) -> logits (B, num_classes)``."""

    def __init__(self, vocab_size: int, options: MinGRUClassifierOptions):
        super().__init__()
        self.options = options
        self.vocab_size = vocab_size
        directions = 2 if options.bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, options.embedding_dim)
        self.embedding_dropout = nn.Dropout(options.embedding_dropout)
        sizes = [options.embedding_dim] + [directions * options.hidden_size] * (options.num_layers - 1)
        self.forward_cells = nn.ModuleList(MinGRUCell(size, options.hidden_size) for size in sizes)
        self.backward_cells = (nn.ModuleList(MinGRUCell(size, options.hidden_size) for size in sizes)
                               if options.bidirectional else None)
        self.dropout = nn.Dropout(options.dropout)
        self.head = nn.Linear(2 * directions * options.hidden_size, options.num_classes)  # max ++ mean
        nn.init.normal_(self.embedding.weight, std=0.1)
        nn.init.zeros_(self.head.bias)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.to(ids.device).clamp(min=1, max=ids.shape[1])  # an empty text reads one padding token
        x = self.embedding_dropout(self.embedding(ids))  # (B, T, E)
        h0 = x.new_zeros(ids.shape[0], self.options.hidden_size, dtype=torch.float32)  # (B, H)
        for layer, cell in enumerate(self.forward_cells):
            if layer > 0:
                x = self.dropout(x)
            outputs = [cell(x, h0)]  # (B, T, H)
            if self.backward_cells is not None:
                backward = self.backward_cells[layer](_reverse_within(x, lengths), h0)
                outputs.append(_reverse_within(backward, lengths))  # back into reading order
            x = torch.cat(outputs, dim=-1).to(x.dtype)  # (B, T, D*H)
        mask = (torch.arange(ids.shape[1], device=ids.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
        largest = x.masked_fill(~mask, float("-inf")).amax(dim=1)  # (B, D*H)
        mean = (x * mask).sum(dim=1) / lengths.unsqueeze(1).to(x.dtype)  # (B, D*H)
        return self.head(self.dropout(torch.cat([largest, mean], dim=1)))  # (B, num_classes)

"""Recurrent text classifier: embedding -> (bi)LSTM/GRU over packed sequences -> pooling -> linear."""

from __future__ import annotations

import torch
from torch import nn
from torch import _VF
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from textrnn import weight_drop

from . import RecurrentClassifierOptions

_MODULES = {"lstm": nn.LSTM, "gru": nn.GRU}
_RNN_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class AttentionPooling(nn.Module):
    """Additive attention over time with a learned context vector (Yang et al. 2016)."""

    def __init__(self, size: int):
        super().__init__()
        self.project = nn.Linear(size, size)
        self.context = nn.Linear(size, 1, bias=False)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.context(torch.tanh(self.project(states))).squeeze(-1)  # (B, T)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)  # (B, T); padding gets weight 0
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1)  # (B, D)


class RecurrentClassifier(nn.Module):
    """Embedding -> stacked (bi)directional LSTM/GRU -> masked pooling -> linear over classes.

    ``forward(ids, lengths)`` takes right-padded ids (B, T) and true lengths (B,) and
    returns logits (B, num_classes). Sequences are packed, so padding never reaches the
    recurrent state, and pooling ignores padded positions: a text gets the same logits
    alone or padded inside any batch. The attribute names ``embedding`` and ``rnn`` match
    the language models of ``textrnn_recurrent``, so an LM's weights transfer directly
    (:meth:`init_from_language_model`).
    """

    # Lets textrnn.export rebuild the forward pass as an ONNX graph: embedding -> rnn over the real
    # tokens -> ``pool`` (or the final states, for "last") -> head. Set on this class only.
    classifier_layout = "embedding-rnn-pool-head"

    def __init__(self, vocab_size: int, options: RecurrentClassifierOptions, cell: str = "lstm"):
        super().__init__()
        self.options = options
        self.cell = cell
        self.vocab_size = vocab_size
        directions = 2 if options.bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, options.embedding_dim)
        self.embedding_dropout = nn.Dropout(options.embedding_dropout)
        self.rnn = _MODULES[cell](
            options.embedding_dim,
            options.hidden_size,
            num_layers=options.num_layers,
            dropout=options.dropout if options.num_layers > 1 else 0.0,
            batch_first=True,
            bidirectional=options.bidirectional,
        )
        state_size = directions * options.hidden_size
        self.attention = AttentionPooling(state_size) if options.pooling == "attention" else None
        pooled_size = 2 * state_size if options.pooling == "maxmean" else state_size
        self.output_dropout = nn.Dropout(options.dropout)
        self.head = nn.Linear(pooled_size, options.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.normal_(self.embedding.weight, std=0.1)
        nn.init.zeros_(self.head.bias)
        if self.cell == "lstm":
            # forget-gate bias 1: Jozefowicz et al. 2015; gate order is i, f, g, o
            hidden = self.options.hidden_size
            for name, param in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        param[hidden : 2 * hidden].fill_(1.0)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.clamp(min=1)  # an empty text reads one padding token rather than failing
        x = self.embedding_dropout(self.embedding(ids))  # (B, T, E)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, final = self._recurrent(packed)
        if self.options.pooling == "last":
            h = final[0] if self.cell == "lstm" else final  # (L * D, B, H), batch in input order
            if self.options.bidirectional:
                pooled = torch.cat([h[-2], h[-1]], dim=1)  # last layer: forward end ++ backward start (B, 2H)
            else:
                pooled = h[-1]  # (B, H)
        else:
            out, _ = pad_packed_sequence(packed_out, batch_first=True)  # (B, T', D*H), T' = max length
            steps = torch.arange(out.size(1), device=out.device)
            mask = steps.unsqueeze(0) < lengths.to(out.device).unsqueeze(1)  # (B, T') True on real tokens
            pooled = self.pool(out, mask, lengths.to(out.device))
        return self.head(self.output_dropout(pooled))  # (B, num_classes)

    def _recurrent(self, packed: PackedSequence):
        """The RNN module, with DropConnect on its recurrent weights while training
        (:mod:`textrnn.weight_drop`): one mask per batch, packed sequences kept."""
        p = self.options.weight_dropout
        if not (self.training and p > 0):
            return self.rnn(packed)
        rnn = self.rnn
        weights = weight_drop.dropped_weights(rnn, p)
        directions = 2 if rnn.bidirectional else 1
        zeros = packed.data.new_zeros(rnn.num_layers * directions, int(packed.batch_sizes[0]), rnn.hidden_size)
        state = (zeros, zeros) if self.cell == "lstm" else zeros
        kernel = _VF.lstm if self.cell == "lstm" else _VF.gru
        out, *final = weight_drop.call_kernel(kernel, packed.data, packed.batch_sizes, state, weights, rnn.bias,
                                              rnn.num_layers, rnn.dropout, True, rnn.bidirectional)
        final = tuple(final) if self.cell == "lstm" else final[0]
        order = packed.unsorted_indices
        if order is not None:  # final states back into the batch's own row order, as the module returns them
            final = (tuple(t.index_select(1, order) for t in final) if self.cell == "lstm"
                     else final.index_select(1, order))
        return PackedSequence(out, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices), final

    def pool(self, out: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """One vector per text (B, P) from the top layer's states ``out`` (B, T, D*H), ``mask`` (B, T)
        True on real tokens and ``lengths`` (B,); every pooling but "last", which reads the final states."""
        pooling = self.options.pooling
        if pooling == "attention":
            return self.attention(out, mask)
        parts = []
        if pooling in ("max", "maxmean"):
            parts.append(out.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1))  # (B, D)
        if pooling in ("mean", "maxmean"):
            total = (out * mask.unsqueeze(-1)).sum(dim=1)  # (B, D)
            parts.append(total / lengths.unsqueeze(1).to(out.dtype))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    # -- transfer learning ----------------------------------------------------
    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from the bottom up: embedding, each recurrent layer, then the head.

        Gradual unfreezing and discriminative learning rates (Howard & Ruder 2018)
        treat each group as one unit.
        """
        groups: list[list[nn.Parameter]] = [list(self.embedding.parameters())]
        for layer in range(self.options.num_layers):
            groups.append([p for name, p in self.rnn.named_parameters()
                           if name.removesuffix("_reverse").endswith(f"_l{layer}")])
        top = list(self.head.parameters())
        if self.attention is not None:
            top = list(self.attention.parameters()) + top
        groups.append(top)
        return groups

    @torch.no_grad()
    def init_from_language_model(self, tensors: dict[str, torch.Tensor]) -> list[str]:
        """Copy a same-sized language model's ``embedding`` and ``rnn`` weights into this model.

        The forward direction becomes an exact copy of the LM's encoder. The backward
        direction starts from the same weights too: a forward LM's layers read reversed
        text poorly, but their input transforms are a better start than random ones.
        Above layer 0 a bidirectional layer reads both directions' outputs (2H inputs);
        each direction's input weights are copied onto its own direction's half and the
        other half is zeroed, so at initialisation the forward stack computes exactly
        what the LM computes. Returns the names of the parameters that were set.

        :raises ValueError: naming the first tensor that is missing or has another shape.
        """
        hidden = self.options.hidden_size
        bidirectional = self.options.bidirectional
        copied = []

        def source(key: str) -> torch.Tensor:
            if key not in tensors:
                raise ValueError(f"the language model has no {key!r} weights")
            return tensors[key]

        def check(key: str, value: torch.Tensor, shape: tuple) -> None:
            if tuple(value.shape) != tuple(shape):
                raise ValueError(f"language-model weights {key!r} have shape {list(value.shape)}, "
                                 f"the classifier needs {list(shape)}")

        emb = source("embedding.weight")
        check("embedding.weight", emb, self.embedding.weight.shape)
        self.embedding.weight.copy_(emb)
        copied.append("embedding.weight")
        params = dict(self.rnn.named_parameters())
        for layer in range(self.options.num_layers):
            for kind in _RNN_PARAMS:
                key = f"{kind}_l{layer}"
                value = source(f"rnn.{key}")
                for suffix in ("", "_reverse") if bidirectional else ("",):
                    target = params[key + suffix]
                    if kind == "weight_ih" and layer > 0 and bidirectional:
                        check(f"rnn.{key}", value, (target.shape[0], hidden))
                        half = slice(0, hidden) if suffix == "" else slice(hidden, 2 * hidden)
                        target.zero_()
                        target[:, half].copy_(value)  # (G*H, 2H): this direction's half of the input
                    else:
                        check(f"rnn.{key}", value, target.shape)
                        target.copy_(value)
                    copied.append(f"rnn.{key}{suffix}")
        return copied

"""Hawk (De et al. 2024): embedding -> residual blocks (temporal mixing, gated MLP) -> RMSNorm -> decoder.

One residual block, as in the paper's Figure 2 and google-deepmind/recurrentgemma::

    x = x + drop(recurrent_block(rms_norm(x)))
    x = x + drop(mlp(rms_norm(x)))             # gelu(W1 x) * (W2 x) -> W3
    recurrent_block(x) = W_out(gelu(W_y x) * rg_lru(conv4(W_x x)))

The RG-LRU, per channel, with r_t and i_t sigmoid gates of the block's input::

    log a_t = -c * r_t * softplus(Lambda)      # a_t = a^(c r_t), a = exp(-softplus(Lambda)) = sigmoid(-Lambda)
    h_t = a_t * h_{t-1} + sqrt(1 - a_t^2) * (i_t * x_t)

Every module has a window form, ``forward``, and a one-token form, ``step``. The state of
a block is the RG-LRU's h and the convolution's last ``conv_width - 1`` inputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from textrnn.dropout import fast_dropout
from textrnn.scan import sequential_scan
from textrnn.scan_choice import runs_sequential

from . import HawkOptions
from .scan import linear_scan

State = tuple[torch.Tensor, ...]


def _linear(size_in: int, size_out: int, scale: float = 1.0, bias: bool = True) -> nn.Linear:
    """A linear layer with variance-scaling init, std sqrt(scale / fan_in), as recurrentgemma does."""
    layer = nn.Linear(size_in, size_out, bias=bias)
    nn.init.normal_(layer.weight, std=math.sqrt(scale / size_in))
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class RMSNorm(nn.Module):
    """x / rms(x) * (1 + scale), scale starting at 0 (recurrentgemma's form)."""

    def __init__(self, size: int, eps: float = 1e-6):
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return (normed * (1 + self.scale.float())).to(x.dtype)


class CausalConv(nn.Module):
    """Depthwise causal convolution over time; its state is the last ``width - 1`` inputs (B, width-1, D)."""

    def __init__(self, size: int, width: int):
        super().__init__()
        self.width = width
        self.weight = nn.Parameter(torch.randn(width, size) * math.sqrt(0.01 / width))  # recurrentgemma's init
        self.bias = nn.Parameter(torch.zeros(size))

    def forward(self, x: torch.Tensor, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D), history (B, width-1, D) -> y (B, T, D), the new history (float32)."""
        steps = x.shape[1]
        padded = torch.cat([history.to(x.dtype), x], dim=1)  # (B, width-1+T, D)
        y = self.bias.to(x.dtype)
        for tap in range(self.width):  # tap width-1 reads x_t itself, tap 0 reads x_{t-width+1}
            y = y + self.weight[tap].to(x.dtype) * padded[:, tap : tap + steps]
        return y, padded[:, padded.shape[1] - (self.width - 1) :].float()


class RGLRU(nn.Module):
    """Real-gated linear recurrent unit: ``forward`` scans a window, ``step`` advances one token."""

    def __init__(self, size: int, gate_power: float, scan: str = "auto"):
        super().__init__()
        self.gate_power = gate_power  # c = 8 in the paper
        self.scan = scan  # see textrnn.scan_choice.SCAN_HELP
        self.gates = _linear(size, 2 * size)  # recurrence gate r and input gate i
        # a = exp(-softplus(Lambda)) with a^2 uniform in [0.9^2, 0.999^2] ("proportional to the
        # area in a ring", recurrentgemma's rnn_param_init); inverse softplus: log(exp(y) - 1)
        radius_squared = torch.empty(size).uniform_(0.9**2, 0.999**2)
        self.a_param = nn.Parameter(torch.log(torch.expm1(-0.5 * torch.log(radius_squared))))

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The decay a_t and the input term sqrt(1 - a_t^2) * i_t * x_t, both float32."""
        r, i = torch.sigmoid(self.gates(x).float()).chunk(2, dim=-1)  # (..., D) each
        log_a = -self.gate_power * r * F.softplus(self.a_param.float())  # (..., D)
        # sqrt(1 - a^2) has an unbounded derivative at a -> 1; the floor caps it at 500
        scale = torch.sqrt((-torch.expm1(2 * log_a)).clamp(min=1e-6))
        return torch.exp(log_a), scale * i * x.float()

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        scan = sequential_scan if runs_sequential(self.scan, x) else linear_scan
        return scan(*self.coefficients(x), h)  # (B, T, D)

    def step(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        a, b = self.coefficients(x)  # (B, D) each
        return torch.addcmul(b, a, h)


class RecurrentBlock(nn.Module):
    """Hawk's temporal mixing block: W_out(gelu(W_y x) * rg_lru(conv(W_x x)))."""

    def __init__(self, options: HawkOptions):
        super().__init__()
        size, width = options.hidden_size, options.lru_width
        self.gate_branch = _linear(size, width)
        self.input_branch = _linear(size, width)
        self.conv = CausalConv(width, options.conv_width)
        self.rg_lru = RGLRU(width, options.gate_power, options.scan)
        self.out = _linear(width, size, scale=2.0 / options.num_layers)  # recurrentgemma's final-layer scale

    def forward(self, x, h, history):
        gate = F.gelu(self.gate_branch(x))  # (B, T, W)
        u, history = self.conv(self.input_branch(x), history)  # (B, T, W)
        states = self.rg_lru(u, h)  # (B, T, W) float32
        return self.out(states.to(gate.dtype) * gate), states[:, -1], history

    def step(self, x, h, history):
        gate = F.gelu(self.gate_branch(x))  # (B, W)
        u, history = self.conv(self.input_branch(x)[:, None], history)  # (B, 1, W)
        h = self.rg_lru.step(u[:, 0], h)  # (B, W)
        return self.out(h.to(gate.dtype) * gate), h, history


class GatedMLP(nn.Module):
    """gelu(W1 x) * (W2 x) -> W3, Griffin's MLP block."""

    def __init__(self, size: int, width: int, num_layers: int):
        super().__init__()
        self.up = _linear(size, 2 * width)
        self.down = _linear(width, size, scale=2.0 / num_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.up(x).chunk(2, dim=-1)
        return self.down(F.gelu(gate) * value)


class HawkBlock(nn.Module):
    """A residual block; ``forward`` takes x (B, T, D), ``step`` x (B, D), each with (h, history)."""

    def __init__(self, options: HawkOptions):
        super().__init__()
        size = options.hidden_size
        self.temporal_norm = RMSNorm(size)
        self.temporal = RecurrentBlock(options)
        self.mlp = None
        if options.mlp_expansion:
            self.mlp_norm = RMSNorm(size)
            self.mlp = GatedMLP(size, options.mlp_expansion * size, options.num_layers)
        self.dropout = fast_dropout(options.dropout)

    def _mlp(self, x):
        return x if self.mlp is None else x + self.dropout(self.mlp(self.mlp_norm(x)))

    def forward(self, x, h, history):
        y, h, history = self.temporal(self.temporal_norm(x), h, history)
        return self._mlp(x + self.dropout(y)), h, history

    def step(self, x, h, history):
        y, h, history = self.temporal.step(self.temporal_norm(x), h, history)
        return self._mlp(x + self.dropout(y)), h, history


class HawkLanguageModel(nn.Module):
    """``forward(ids (B, T), state) -> (logits (B, T, V), state)``, the window scanned in parallel;
    ``step(ids (B,), state) -> (logits (B, V), state)``, one token in O(1).

    ``state`` is ``(h, history)``: h (num_layers, B, lru_width) and history
    (num_layers, B, conv_width - 1, lru_width), both float32.
    """

    def __init__(self, vocab_size: int, options: HawkOptions):
        super().__init__()
        self.options = options
        self.vocab_size = vocab_size
        size = options.hidden_size
        self.embedding = nn.Embedding(vocab_size, options.embedding_dim)
        # recurrentgemma: embeddings drawn with std 1/sqrt(E) and multiplied by sqrt(E) on the way in
        nn.init.normal_(self.embedding.weight, std=1 / math.sqrt(options.embedding_dim))
        self.embedding_scale = math.sqrt(options.embedding_dim)
        self.embedding_dropout = fast_dropout(options.embedding_dropout)
        self.input = _linear(options.embedding_dim, size) if options.embedding_dim != size else nn.Identity()
        self.blocks = nn.ModuleList(HawkBlock(options) for _ in range(options.num_layers))
        self.norm = RMSNorm(size)
        self.decoder = nn.Linear(size, vocab_size)
        nn.init.zeros_(self.decoder.bias)
        if options.tie_weights:
            self.decoder.weight = self.embedding.weight  # weight tying: Press & Wolf 2017

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> State:
        """The zero state: h (L, batch, W) and the convolutions' history (L, batch, conv_width - 1, W)."""
        device = device if device is not None else self.embedding.weight.device
        o = self.options
        return (torch.zeros(o.num_layers, batch, o.lru_width, device=device),
                torch.zeros(o.num_layers, batch, o.conv_width - 1, o.lru_width, device=device))

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.input(self.embedding_dropout(self.embedding(ids) * self.embedding_scale))

    def forward(self, ids: torch.Tensor, state: State | None = None):
        hs, histories = state if state is not None else self.initial_state(ids.shape[0], ids.device)
        x = self._embed(ids)  # (B, T, D)
        finals = []
        for block, h, history in zip(self.blocks, hs, histories):
            x, h, history = block(x, h, history)
            finals.append((h, history))
        return self.decoder(self.norm(x)), self._stack(finals)  # (B, T, V)

    def step(self, ids: torch.Tensor, state: State | None = None):
        hs, histories = state if state is not None else self.initial_state(ids.shape[0], ids.device)
        x = self._embed(ids)  # (B, D)
        finals = []
        for block, h, history in zip(self.blocks, hs, histories):
            x, h, history = block.step(x, h, history)
            finals.append((h, history))
        return self.decoder(self.norm(x)), self._stack(finals)  # (B, V)

    @staticmethod
    def _stack(finals) -> State:
        hs, histories = zip(*finals)
        return torch.stack(hs), torch.stack(histories)

"""minGRU and minLSTM cells (Feng et al. 2024, "Were RNNs All We Needed?"), each in two forms.

Both gates and the candidate read only the input x_t, never h_{t-1}::

    minGRU:  z = sigmoid(W_z x),  h~ = g(W_h x),  h_t = (1 - z) * h_{t-1} + z * h~
    minLSTM: f = sigmoid(W_f x),  i = sigmoid(W_i x),  h~ = g(W_h x),
             h_t = f / (f + i) * h_{t-1} + i / (f + i) * h~

with g(x) = x + 0.5 for x >= 0 and sigmoid(x) below (the paper's positive activation, so
that h~ has a logarithm). ``forward`` scans a window in log space (:mod:`.scan`), or on
the CPU by default as one fused loop over time in linear space
(:func:`textrnn.scan.sequential_scan`, the ``scan`` option); ``step`` advances one token
in linear space. The two agree to float32 rounding, which
the plugin's tests check.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from textrnn.scan import sequential_scan
from textrnn.scan_choice import runs_sequential

from .scan import log_space_scan


def g(x: torch.Tensor) -> torch.Tensor:
    """The paper's positive activation: continuous, x + 0.5 above 0, sigmoid below."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log(g(x)) without forming g: log(x + 0.5) above 0, -softplus(-x) below."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


class MinGRUCell(nn.Module):
    """``forward(x (B, T, I), h (B, H)) -> every h_t (B, T, H)``; ``step(x (B, I), h) -> h'``.

    States and the recurrence are float32 whatever the autocast dtype.
    """

    gates = 1  # projections besides the candidate

    def __init__(self, input_size: int, hidden_size: int, scan: str = "auto"):
        super().__init__()
        self.hidden_size = hidden_size
        self.scan = scan  # see textrnn.scan_choice.SCAN_HELP
        self.project = nn.Linear(input_size, (self.gates + 1) * hidden_size)  # gate(s) and candidate, one matmul

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pre-activations of the recurrence: log a, log of the input share, candidate pre-activation."""
        k, candidate = self.project(x).float().chunk(2, dim=-1)  # each (..., H)
        return -F.softplus(k), -F.softplus(-k), candidate  # log(1 - z), log z, W_h x

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if runs_sequential(self.scan, x):  # linear space: the same sum, without logcumsumexp
            return sequential_scan(*self.linear_coefficients(x), h)
        log_a, log_share, candidate = self.coefficients(x)
        return log_space_scan(log_a, log_share + log_g(candidate), h)  # (B, T, H)

    def linear_coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a_t and b_t of h_t = a_t * h_{t-1} + b_t, in linear space."""
        log_a, log_share, candidate = self.coefficients(x)
        return torch.exp(log_a), torch.exp(log_share) * g(candidate)

    def step(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        a, b = self.linear_coefficients(x)  # each (B, H)
        return a * h + b


class MinLSTMCell(MinGRUCell):
    """minLSTM: forget and input gates normalised to sum to one, so the state stays bounded
    without the output gate and cell state of an LSTM (the paper's length-independent form)."""

    gates = 2

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f, i, candidate = self.project(x).float().chunk(3, dim=-1)  # each (..., H)
        # log f' = log f - log(f + i) = -softplus(log i - log f), with log sigmoid(k) = -softplus(-k)
        diff = F.softplus(-f) - F.softplus(-i)  # log i - log f
        return -F.softplus(diff), -F.softplus(-diff), candidate  # log f', log i', W_h x


CELLS = {"mingru": MinGRUCell, "minlstm": MinLSTMCell}

"""The two recurrent forecasters: autoregressive (Darts ``RNNModel``, DeepAR) and encoder +
direct multi-horizon head (Darts ``BlockRNNModel``).

Both map a window to the horizon with one signature::

    forward(past, future_known, future_values=None) -> (B, H, outputs)

* ``past`` (B, C, S + K): the context, ``S`` series channels (the target first, then the
  past covariates) and ``K`` known channels (calendar features) per step;
* ``future_known`` (B, H, K): the known channels over the horizon;
* ``future_values`` (B, H, S): the true series channels, used only by the autoregressive
  model when it is trained with teacher forcing;
* the output holds, per horizon step, a point forecast of each series channel and, with
  ``distribution="gaussian"``, a raw scale per channel after them (``softplus`` makes it
  positive; :func:`split_output` does that).

Values arrive normalised by the task (per-series scale fitted on the training span, minus
the window's level), so the models know nothing about units. Imported only when a model
is built: this module imports torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MIN_SCALE = 1e-3  # floor on a predicted standard deviation (normalised units)


def split_output(out: torch.Tensor, channels: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(mean, std or None) of a model output (B, H, channels * (1 or 2))."""
    if out.shape[-1] == channels:
        return out, None
    return out[..., :channels], F.softplus(out[..., channels:]) + MIN_SCALE


def _rnn(cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float) -> nn.Module:
    kinds = {"lstm": nn.LSTM, "gru": nn.GRU}
    return kinds[cell](input_size, hidden_size, num_layers, batch_first=True,
                       dropout=dropout if num_layers > 1 else 0.0)


class BlockForecaster(nn.Module):
    """An LSTM/GRU reads the context; a linear head emits every horizon step at once.

    Darts' ``BlockRNNModel``: no feedback, so errors do not compound and training needs
    no teacher forcing. The known features of the horizon (calendar) enter the head
    flattened beside the final hidden state.
    """

    def __init__(self, series_channels: int, known_channels: int, horizon: int, *, cell: str = "gru",
                 hidden_size: int = 64, num_layers: int = 1, dropout: float = 0.0, distribution: str = "none"):
        super().__init__()
        self.series_channels, self.horizon = series_channels, horizon
        self.outputs = series_channels * (2 if distribution == "gaussian" else 1)
        self.encoder = _rnn(cell, series_channels + known_channels, hidden_size, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size + horizon * known_channels, horizon * self.outputs)

    def forward(self, past, future_known, future_values=None):
        encoded, _ = self.encoder(past)  # (B, C, hidden)
        last = self.dropout(encoded[:, -1])  # (B, hidden)
        features = torch.cat([last, future_known.flatten(1)], dim=1)  # (B, hidden + H * K)
        return self.head(features).view(-1, self.horizon, self.outputs)  # (B, H, outputs)


class AutoregressiveForecaster(nn.Module):
    """An LSTM/GRU that predicts one step ahead and feeds its own prediction back.

    Darts' ``RNNModel`` and DeepAR (Salinas et al. 2020): the state after the context
    carries on through the horizon, each step reading the previous step's value (the
    prediction at inference; the truth under teacher forcing) and that step's known
    features. ``sample_paths`` feeds back draws from the predicted Gaussian instead, which
    gives sample paths whose quantiles are the intervals.
    """

    def __init__(self, series_channels: int, known_channels: int, horizon: int, *, cell: str = "gru",
                 hidden_size: int = 64, num_layers: int = 1, dropout: float = 0.0, distribution: str = "none"):
        super().__init__()
        self.series_channels, self.horizon = series_channels, horizon
        self.outputs = series_channels * (2 if distribution == "gaussian" else 1)
        self.rnn = _rnn(cell, series_channels + known_channels, hidden_size, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, self.outputs)

    def _step(self, inputs, state):
        hidden, state = self.rnn(inputs, state)  # (B, T, hidden)
        return self.head(self.dropout(hidden)), state  # (B, T, outputs)

    def _context(self, past, future_known):
        """The context as inputs: each step's value beside the known features of the step it
        predicts (DeepAR's pairing), so the first horizon step's calendar is read too."""
        known = torch.cat([past[:, 1:, self.series_channels:], future_known[:, :1]], dim=1)  # (B, C, K)
        return torch.cat([past[..., :self.series_channels], known], dim=2)

    def forward(self, past, future_known, future_values=None):
        horizon = future_known.shape[1]
        out, state = self._step(self._context(past, future_known), None)
        first = out[:, -1:]  # (B, 1, outputs): the first horizon step
        if future_values is not None:  # teacher forcing: the rest of the horizon in one pass
            inputs = torch.cat([future_values[:, :-1], future_known[:, 1:]], dim=2)  # (B, H-1, S + K)
            rest, _ = self._step(inputs, state)
            return torch.cat([first, rest], dim=1)
        outputs = [first]
        for h in range(1, horizon):
            fed = outputs[-1][..., :self.series_channels]  # the point forecast goes back in
            out, state = self._step(torch.cat([fed, future_known[:, h:h + 1]], dim=2), state)
            outputs.append(out)
        return torch.cat(outputs, dim=1)  # (B, H, outputs)

    @torch.no_grad()
    def sample_paths(self, past, future_known, samples: int, generator=None):
        """``samples`` paths per row drawn from the predicted Gaussians: (samples, B, H, S)."""
        rows = past.shape[0]
        past = past.repeat(samples, 1, 1)  # (samples * B, C, S + K)
        known = future_known.repeat(samples, 1, 1)
        out, state = self._step(self._context(past, known), None)
        draws = []
        for h in range(known.shape[1]):
            mean, std = split_output(out[:, -1:], self.series_channels)
            std = std if std is not None else torch.zeros_like(mean)
            draw = mean + std * torch.randn(mean.shape, generator=generator, device=mean.device)
            draws.append(draw)
            if h + 1 < known.shape[1]:
                out, state = self._step(torch.cat([draw, known[:, h + 1:h + 2]], dim=2), state)
        return torch.cat(draws, dim=1).view(samples, rows, known.shape[1], self.series_channels)

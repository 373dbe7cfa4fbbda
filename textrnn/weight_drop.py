"""DropConnect on a torch RNN module's recurrent weights (AWD-LSTM, Merity et al. 2017).

Shared by the language-model and classifier plugins. The hidden-to-hidden matrices get
one dropout mask per forward call, and the dropped weights go straight to the fused
cuDNN/MKL kernel the module itself calls (``torch._VF``): swapping them into the module
would make it re-flatten, and so re-point, its real parameters on every step.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def dropped_weights(rnn: nn.RNNBase, p: float) -> list[torch.Tensor]:
    """The module's flat weights, each hidden-to-hidden matrix under a fresh dropout mask."""
    return [nn.functional.dropout(w, p, True) if name.startswith("weight_hh") else w
            for name, w in zip(rnn._flat_weights_names, rnn._flat_weights)]


def call_kernel(kernel, *args):
    """``kernel(*args)``, without the warning that the weights are not one contiguous block:
    the dropped copies never are, and cuDNN packs them per call."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous")
        return kernel(*args)

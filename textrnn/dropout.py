"""Dropout modules shared by model plugins."""

from __future__ import annotations

import torch
from torch import nn


class LockedDropout(nn.Module):
    """Dropout with one mask per sequence, shared by all time steps (Gal & Ghahramani 2016).

    Input (B, T, F): the mask is (B, 1, F), so a dropped unit stays dropped for the window.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - self.p).div_(1 - self.p)  # (B, 1, F)
        return x * mask


def dropout(p: float, locked: bool = False) -> nn.Module:
    """``nn.Dropout(p)``, :class:`LockedDropout` when ``locked``, and no module at all for p = 0
    (dropout with p = 0 still costs a kernel per step)."""
    if p <= 0:
        return nn.Identity()
    return LockedDropout(p) if locked else nn.Dropout(p)


class FastDropout(nn.Module):
    """Element-wise dropout with a cheap mask: the same expectation as ``nn.Dropout``, with
    ``p`` rounded to a multiple of 1/32768.

    ``bernoulli_`` draws one 32-bit random number per element, and on a CPU that draw costs
    more than the layer it regularises. Here each element gets 15 random bits, four to a
    64-bit draw: Hawk's compiled bf16 training step with dropout 0.1 takes 90.6 ms, against
    113.6 ms with ``nn.Dropout`` and 75.1 ms with none (``benchmarks/compile_speed.py``).
    The draw is PyTorch's generator, so a seed reproduces the masks.
    """

    def __init__(self, p: float):
        super().__init__()
        self.cut = min(round(p * 32768), 32767)  # units whose 15 random bits fall below this are dropped
        self.scale = 32768 / (32768 - self.cut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.cut == 0:
            return x
        n = x.numel()
        # random_() fills an int64 with 63 uniform bits; each 16-bit quarter keeps its low 15
        words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_()
        bits = words.view(torch.int16)[:n].view(x.shape) & 0x7FFF
        return x * ((bits >= self.cut).to(x.dtype) * self.scale)


def fast_dropout(p: float) -> nn.Module:
    """:class:`FastDropout`, or no module at all for p = 0."""
    return FastDropout(p) if p > 0 else nn.Identity()

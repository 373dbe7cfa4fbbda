"""The log-space parallel scan of a first-order linear recurrence with positive terms.

``h_t = a_t * h_{t-1} + b_t`` with ``a_t in (0, 1)`` and ``b_t > 0`` unrolls to
``h_t = A_t * h_0 + A_t * sum_{s<=t} b_s / A_s`` with ``A_t = a_1 ... a_t``. In logs the
product is a ``cumsum`` and the sum a ``logcumsumexp``, so a whole window costs two scans
instead of a Python loop over time (Heinsen 2023, "Efficient parallelization of a
ubiquitous sequential computation"; used by Feng et al. 2024 for minGRU and minLSTM).
"""

from __future__ import annotations

import torch

#: Windows are scanned in pieces of this many steps, carrying h from piece to piece. In float32
#: ``log A_t + logcumsumexp(log b - log A)`` adds two numbers of size ~|log A_t|, which grows
#: with t; cutting at 256 steps keeps it to a few hundred (ulp ~3e-5) for windows of any length.
CHUNK = 256


def log_space_scan(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Every ``h_t`` of ``h_t = exp(log_a_t) * h_{t-1} + exp(log_b_t)``.

    :param log_a: (B, T, D) log decay, each <= 0.
    :param log_b: (B, T, D) log of the (positive) input term.
    :param h0: (B, D) state before the window; any sign (it enters linearly, not in logs).
    :return: (B, T, D) float32. The scan runs in float32 with autocast off: under bf16 or
        fp16 autocast ``exp`` of a long cumulative sum would overflow or lose all precision.
    """
    with torch.autocast(device_type=log_a.device.type, enabled=False):
        log_a, log_b, h = log_a.float(), log_b.float(), h0.float()
        pieces = []
        for start in range(0, log_a.shape[1], CHUNK):
            log_decay = torch.cumsum(log_a[:, start : start + CHUNK], dim=1)  # (B, C, D) log A_t within the piece
            inputs = torch.logcumsumexp(log_b[:, start : start + CHUNK] - log_decay, dim=1)  # log sum b_s / A_s
            piece = torch.exp(log_decay + inputs) + torch.exp(log_decay) * h.unsqueeze(1)  # (B, C, D)
            h = piece[:, -1]
            pieces.append(piece)
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)

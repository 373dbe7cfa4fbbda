"""A parallel associative scan of the diagonal linear recurrence h_t = a_t * h_{t-1} + b_t.

The pairs (a, b) compose associatively, (a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2),
so log2(T) rounds of "combine each position with the one ``offset`` before it, doubling
``offset``" give every prefix at once (Hillis & Steele 1986; Blelloch 1990). It runs in
linear space, so ``b`` may have any sign (the RG-LRU's input does), and products of decays
in [0, 1] can only shrink: nothing overflows, however long the window.
"""

from __future__ import annotations

import torch


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Every h_t of ``h_t = a_t * h_{t-1} + b_t``.

    :param a: (B, T, D) decays in [0, 1].
    :param b: (B, T, D) inputs.
    :param h0: (B, D) state before the window.
    :return: (B, T, D) float32; the scan runs in float32 with autocast off, so a bf16 or
        fp16 autocast region does not accumulate a long product in half precision.
    """
    with torch.autocast(device_type=a.device.type, enabled=False):
        a, b = a.float(), b.float()
        b = torch.cat([b[:, :1] + a[:, :1] * h0.float().unsqueeze(1), b[:, 1:]], dim=1)  # fold h0 into step 0
        offset = 1
        while offset < a.shape[1]:
            # position t absorbs the prefix that ends at t - offset; the first ``offset`` are done
            b = torch.cat([b[:, :offset], torch.addcmul(b[:, offset:], a[:, offset:], b[:, :-offset])], dim=1)
            a = torch.cat([a[:, :offset], a[:, offset:] * a[:, :-offset]], dim=1)
            offset *= 2
        return b

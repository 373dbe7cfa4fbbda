"""A diagonal linear recurrence over a window, run as one loop over time with a hand-written backward.

``h_t = a_t * h_{t-1} + b_t`` is what minGRU, minLSTM and Hawk's RG-LRU compute once their
gates are known, and their gates read only the input, so every matmul of a window runs at
once and only this elementwise recurrence is left. On a GPU a parallel scan (log-space, or
associative) does it in O(log T) depth. A CPU has no such width to fill: there a parallel
scan is pure extra work (``logcumsumexp`` costs about 75 ``exp``-sized passes here), while
a plain loop does one fused multiply-add per step in linear space, where nothing can
overflow (``|a_t| <= 1``). :func:`sequential_scan` is that loop, forward and backward, for
model plugins to call on the CPU.
"""

from __future__ import annotations

import torch


class _SequentialScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        a_t, b_t = a.transpose(0, 1).contiguous(), b.transpose(0, 1)  # (T, B, D): one step is contiguous
        out = torch.empty_like(a_t)
        h = h0
        for t in range(a_t.shape[0]):
            h = torch.addcmul(b_t[t], a_t[t], h, out=out[t])
        ctx.save_for_backward(a_t, out, h0)
        return out.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        # g_t = dL/dh_t (total) = grad_out_t + a_{t+1} * g_{t+1}; then dL/db_t = g_t,
        # dL/da_t = g_t * h_{t-1}, dL/dh0 = a_1 * g_1.
        a_t, out, h0 = ctx.saved_tensors
        grad_t = grad_out.transpose(0, 1)
        grad_b = torch.empty_like(a_t)
        g = grad_b[-1].copy_(grad_t[-1])
        for t in range(a_t.shape[0] - 2, -1, -1):
            g = torch.addcmul(grad_t[t], a_t[t + 1], g, out=grad_b[t])
        previous = torch.cat([h0.unsqueeze(0), out[:-1]])  # h_{t-1}, (T, B, D)
        grad_a = grad_b * previous
        return grad_a.transpose(0, 1), grad_b.transpose(0, 1), a_t[0] * grad_b[0]


# torch.compile would unroll the loop once per window length; left out of the graph, it stays
# one fused multiply-add per step while the gates around it compile
@torch.compiler.disable
def sequential_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Every ``h_t`` of ``h_t = a_t * h_{t-1} + b_t``, in float32 with autocast off.

    :param a: (B, T, D) decays, each in [-1, 1] (in [0, 1] for every first-party family).
    :param b: (B, T, D) inputs, any sign.
    :param h0: (B, D) state before the window.
    :return: (B, T, D) float32, exact to float32 rounding for windows of any length.
    """
    with torch.autocast(device_type=a.device.type, enabled=False):
        return _SequentialScan.apply(a.float(), b.float(), h0.float())

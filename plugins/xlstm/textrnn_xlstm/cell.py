"""The mLSTM cell of xLSTM (Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory"), in two forms.

Per head, with query q_t, key k_t (already scaled by 1/sqrt(d)), value v_t, input-gate
pre-activation i~_t and log forget gate log f_t (``logsigmoid(f~_t)`` or ``f~_t`` itself)::

    m_t = max(log f_t + m_{t-1}, i~_t)                  # the stabiliser (paper eq. 15)
    C_t = exp(log f_t + m_{t-1} - m_t) C_{t-1} + exp(i~_t - m_t) k_t v_t^T     # (d, d)
    n_t = exp(log f_t + m_{t-1} - m_t) n_{t-1} + exp(i~_t - m_t) k_t           # (d,)
    h_t = C_t^T q_t / (max(|n_t . q_t|, exp(-m_t)) + eps)

C and n are the true memory scaled by exp(-m_t), so ``exp`` never overflows; the
output is the same for any m (the ``exp(-m_t)`` floor is the paper's 1 in unscaled
terms), so m carries no gradient: it is detached, which is exact.

* :func:`recurrent` runs that recursion one step at a time (generation, and the reference).
* :func:`chunkwise` computes the same numbers as linear attention with a decay, chunk by
  chunk (the chunkwise form of Yang et al. 2024, "Gated Linear Attention", with the
  stabiliser): inside a chunk a (L, L) matrix of log decays b_t - b_s + i~_s
  (b = cumulative log forget gate) weights q_t . k_s; between chunks only the state
  (C, n, m) is carried. Unrolling the recursion gives, for position t of a chunk
  entered with state (C0, n0, m0),
  ``m_t = max(b_t + m0, max_{s<=t} b_t - b_s + i~_s)``, which is what it computes.

Both take and return float32; callers run them outside autocast.
"""

from __future__ import annotations

import torch

EPS = 1e-6  # added to the denominator, as in the reference implementation (NX-AI/xlstm)

State = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # C (B, H, d, d), n (B, H, d), m (B, H)


def zero_state(batch: int, heads: int, head_dim: int, like: torch.Tensor) -> State:
    """The empty memory: C = 0, n = 0, m = 0."""
    c = like.new_zeros(batch, heads, head_dim, head_dim, dtype=torch.float32)
    return c, c.new_zeros(batch, heads, head_dim), c.new_zeros(batch, heads)


def _normalise(num: torch.Tensor, den: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """num (..., d) / (max(|den|, exp(-m)) + eps), den and m (...)."""
    return num / (torch.maximum(den.abs(), torch.exp(-m)) + EPS).unsqueeze(-1)


def recurrent(q, k, v, log_i, log_f, state: State) -> tuple[torch.Tensor, State]:
    """Step by step. q, k, v (B, H, T, d); log_i, log_f (B, H, T). Returns h (B, H, T, d) and the state."""
    c, n, m = state
    outputs = []
    for t in range(q.shape[2]):
        m_new = torch.maximum(log_f[:, :, t] + m, log_i[:, :, t]).detach()  # (B, H)
        forget = torch.exp(log_f[:, :, t] + m - m_new)[..., None]  # (B, H, 1)
        write = torch.exp(log_i[:, :, t] - m_new)[..., None]
        k_t, v_t, q_t = k[:, :, t], v[:, :, t], q[:, :, t]  # (B, H, d)
        c = forget[..., None] * c + (write * k_t)[..., :, None] * v_t[..., None, :]  # (B, H, d, d)
        n = forget * n + write * k_t  # (B, H, d)
        m = m_new
        num = torch.einsum("bhkv,bhk->bhv", c, q_t)  # (B, H, d)
        den = (n * q_t).sum(-1)  # (B, H)
        outputs.append(_normalise(num, den, m))
    return torch.stack(outputs, dim=2), (c, n, m)


def chunkwise(q, k, v, log_i, log_f, state: State, chunk_size: int) -> tuple[torch.Tensor, State]:
    """Chunk by chunk, each chunk in parallel. Shapes as :func:`recurrent`; any T and chunk size.

    A window whose length is not a multiple of the chunk size is padded at the end with
    steps that write nothing (i~ = -inf) and forget nothing (log f = 0), so the state after
    the padding is the state after the last real step.
    """
    batch, heads, steps, dim = q.shape
    size = min(chunk_size, steps)
    chunks = -(-steps // size)
    pad = chunks * size - steps
    if pad:
        q, k, v = (torch.nn.functional.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
        log_i = torch.nn.functional.pad(log_i, (0, pad), value=float("-inf"))
        log_f = torch.nn.functional.pad(log_f, (0, pad), value=0.0)
    q, k, v = (x.reshape(batch, heads, chunks, size, dim) for x in (q, k, v))  # (B, H, N, L, d)
    log_i = log_i.reshape(batch, heads, chunks, size)  # (B, H, N, L)
    decay = log_f.reshape(batch, heads, chunks, size).cumsum(-1)  # b_t: (B, H, N, L)
    total = decay[..., -1]  # (B, H, N) the log forget gate of a whole chunk

    # what each chunk alone adds to the memory at its end, scaled by its own maximum
    to_end = total[..., None] - decay + log_i  # (B, H, N, L) log weight of step s at the chunk's end
    local_max = to_end.amax(-1).detach()  # (B, H, N)
    weighted_k = k * torch.exp(to_end - local_max[..., None])[..., None]  # (B, H, N, L, d)
    local_c = weighted_k.transpose(-1, -2) @ v  # (B, H, N, d, d)
    local_n = weighted_k.sum(-2)  # (B, H, N, d)

    # the states entering each chunk: a short sequential pass over chunks, elementwise only
    c, n, m = state
    entering = []
    for index in range(chunks):
        entering.append((c, n, m))
        m_new = torch.maximum(total[..., index] + m, local_max[..., index]).detach()  # (B, H)
        old = torch.exp(total[..., index] + m - m_new)
        new = torch.exp(local_max[..., index] - m_new)
        c = old[..., None, None] * c + new[..., None, None] * local_c[:, :, index]
        n = old[..., None] * n + new[..., None] * local_n[:, :, index]
        m = m_new
    c_in, n_in, m_in = (torch.stack(s, dim=2) for s in zip(*entering))  # (B, H, N, d, d), (B, H, N, d), (B, H, N)

    # outputs: the carried memory, decayed, plus the chunk's own causal part
    from_state = decay + m_in[..., None]  # (B, H, N, L) log weight of the entering state at step t
    pairwise = decay[..., :, None] - decay[..., None, :] + log_i[..., None, :]  # (B, H, N, L, L) [t, s]
    causal = torch.ones(size, size, dtype=torch.bool, device=q.device).tril()
    pairwise = pairwise.masked_fill(~causal, float("-inf"))
    m_t = torch.maximum(from_state, pairwise.amax(-1)).detach()  # (B, H, N, L): the recurrent m_t
    scores = (q @ k.transpose(-1, -2)) * torch.exp(pairwise - m_t[..., None])  # (B, H, N, L, L)
    carried = torch.exp(from_state - m_t)  # (B, H, N, L)
    num = scores @ v + carried[..., None] * (q @ c_in)  # (B, H, N, L, d)
    den = scores.sum(-1) + carried * (q * n_in[..., None, :]).sum(-1)  # (B, H, N, L)
    h = _normalise(num, den, m_t).reshape(batch, heads, chunks * size, dim)[:, :, :steps]
    return h, (c, n, m)

"""Cross-entropy evaluation of language models: loss, perplexity, bits per token and char.

Every token of the text is scored: when the tokenizer has a newline token, the model is
first fed that token as context, so the first real token is predicted too and bits per
character divide by the full character count of the text. The hidden state is carried
through the whole text (``streams=1``); training-time evaluation may use several
contiguous streams, each starting cold, for speed.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F

from .errors import CorpusError


@torch.inference_mode()
def total_nll(model, tokens, device: torch.device, *, streams: int = 1, window: int = 512,
              start_id: int | None = None, autocast_dtype=None) -> tuple[float, int]:
    """Summed negative log-likelihood (nats) over the predicted tokens, and their count.

    ``tokens`` may be a list, a tensor or a numpy memmap: windows are read from it one at
    a time, so evaluating a huge validation set never copies it whole.
    """
    ids = tokens.numpy() if isinstance(tokens, torch.Tensor) else tokens
    if not isinstance(ids, np.ndarray):
        ids = np.asarray(ids, dtype=np.int64)
    offset = 1 if start_id is not None else 0  # position p of the sequence is ids[p - offset]
    n = len(ids) + offset
    if n < 2:
        raise CorpusError("text is too short to evaluate (needs at least one token to predict)")
    streams = max(1, min(streams, (n - 1) // max(1, window // 4) or 1))
    length = (n - 1) // streams  # predicted positions per stream

    def rows(start: int, stop: int) -> torch.Tensor:  # sequence positions [start, stop) of every stream
        out = np.empty((streams, stop - start), dtype=np.int64)
        for s in range(streams):
            lo, hi = s * length + start, s * length + stop
            if lo < offset:  # the start token sits before the text
                out[s, 0] = start_id
                out[s, 1:] = ids[: hi - offset]
            else:
                out[s] = ids[lo - offset : hi - offset]
        return torch.from_numpy(out)

    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    state = None
    cast = (torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None
            else contextlib.nullcontext())
    try:
        for start in range(0, length, window):
            chunk = rows(start, min(start + window, length) + 1).to(device, non_blocking=True)  # (S, <=W+1)
            with cast:
                logits, state = model(chunk[:, :-1], state)  # (S, W, V)
            total += F.cross_entropy(logits.float().flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum").double()
    finally:
        model.train(was_training)
    return float(total), streams * length


def lm_metrics(nll: float, tokens: int, chars: int) -> dict[str, float | int]:
    """The numbers ``textrnn evaluate`` reports, from a summed NLL in nats."""
    loss = nll / tokens
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 700.0)),
        "bits_per_token": loss / math.log(2),
        "bits_per_char": nll / math.log(2) / chars if chars else float("nan"),
        "tokens": tokens,
        "chars": chars,
    }


def score_text(model, tokenizer, text: str, device: torch.device, window: int = 512) -> dict[str, float | int]:
    """Loss, perplexity and bits per character of ``text`` under ``model``."""
    ids = tokenizer.encode(text)
    start = tokenizer.newline_id
    if start is None:  # nothing to condition the first token on: skip it
        chars = len(text) - len(tokenizer.decode(ids[:1]))
    else:
        chars = len(text)
    if not ids or (start is None and len(ids) < 2):
        raise CorpusError("text is empty after tokenization; nothing to score")
    nll, count = total_nll(model, ids, device, streams=1, window=window, start_id=start)
    return lm_metrics(nll, count, chars)

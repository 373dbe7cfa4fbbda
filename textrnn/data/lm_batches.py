"""Truncated-BPTT batches: contiguous token streams read window by window.

The token array is cut into ``batch_size`` equal streams (for DDP, ``batch_size`` is the
global batch and each rank reads its own contiguous block of streams). Window ``i`` of
every stream is read at once, so the hidden state carried from window ``i`` is the right
context for window ``i + 1``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import CorpusError


class StreamBatcher:
    def __init__(self, tokens: np.ndarray, batch_size: int, seq_len: int, rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise CorpusError(f"batch size {batch_size} is not divisible by {world_size} processes")
        self.tokens = tokens
        self.seq_len = seq_len
        self.local_batch = batch_size // world_size
        self.stream_len = len(tokens) // batch_size
        self.windows_per_epoch = (self.stream_len - 1) // seq_len
        if self.windows_per_epoch < 1:
            raise CorpusError(
                f"training text is too short: {len(tokens)} tokens cannot fill one window of "
                f"{batch_size} streams x {seq_len + 1} tokens; lower --batch-size or --seq-len"
            )
        first = rank * self.local_batch
        starts = (first + np.arange(self.local_batch)) * self.stream_len  # (B,)
        self._offsets = starts[:, None] + np.arange(seq_len + 1)[None, :]  # (B, T+1)

    @property
    def tokens_per_window(self) -> int:
        return self.local_batch * self.seq_len

    def window(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets of window ``index`` (0-based within an epoch), each (B, T)."""
        chunk = np.asarray(self.tokens[self._offsets + index * self.seq_len], dtype=np.int64)  # (B, T+1)
        data = torch.from_numpy(chunk)
        return data[:, :-1], data[:, 1:]

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

    def chunk(self, index: int) -> np.ndarray:
        """Window ``index`` (0-based within an epoch) with its next tokens, (B, T+1) int64."""
        return np.asarray(self.tokens[self._offsets + index * self.seq_len], dtype=np.int64)

    def window(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets of window ``index``, each (B, T)."""
        data = torch.from_numpy(self.chunk(index))  # (B, T+1)
        return data[:, :-1], data[:, 1:]


# Keep a rank's token streams on the GPU up to this many bytes (as int64); past it, windows
# travel through pinned host buffers instead.
RESIDENT_MAX_BYTES = 1 << 30


class DeviceWindows:
    """The windows of a :class:`StreamBatcher`, delivered on ``device``.

    On CUDA a rank's streams are uploaded once when they fit in ``RESIDENT_MAX_BYTES``,
    so a step costs one gather on the GPU and no host-to-device copy at all, as in a
    hand-written loop. Larger corpora (memory-mapped caches) are copied window by window
    through a ring of pinned buffers with non-blocking copies; a CUDA event per buffer
    keeps a buffer from being refilled before its copy has finished. Elsewhere the
    batcher's CPU tensors are returned as they are. Every path yields the same tokens.
    """

    def __init__(self, batcher: StreamBatcher, device: torch.device, resident_max_bytes: int = RESIDENT_MAX_BYTES):
        self.batcher = batcher
        self.device = device
        self.mode = "host"
        if device.type != "cuda":
            return
        block = batcher.local_batch * batcher.stream_len
        if block * 8 <= resident_max_bytes:
            first = int(batcher._offsets[0, 0])
            local = np.asarray(batcher.tokens[first : first + block], dtype=np.int64)
            self._resident = torch.from_numpy(local).to(device)
            self._offsets = torch.from_numpy(batcher._offsets - first).to(device)  # (B, T+1)
            self.mode = "resident"
        else:
            shape = batcher._offsets.shape
            self._pinned = [torch.empty(shape, dtype=torch.int64).pin_memory() for _ in range(2)]
            self._copied = [None, None]
            self._slot = 0
            self.mode = "pinned"

    def window(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets of window ``index`` on the device, each (B, T)."""
        if self.mode == "resident":
            data = self._resident[self._offsets + index * self.batcher.seq_len]  # (B, T+1)
            return data[:, :-1], data[:, 1:]
        if self.mode == "host":
            x, y = self.batcher.window(index)
            return x.to(self.device), y.to(self.device)  # no-op on the CPU
        slot, self._slot = self._slot, 1 - self._slot
        if self._copied[slot] is not None:
            self._copied[slot].synchronize()  # the copy out of this buffer two steps ago is done
        buffer = self._pinned[slot]
        buffer.copy_(torch.from_numpy(self.batcher.chunk(index)))
        data = buffer.to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._copied[slot] = event
        return data[:, :-1], data[:, 1:]

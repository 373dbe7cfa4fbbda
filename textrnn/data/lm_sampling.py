"""The order in which a language model reads its training tokens.

Three orders, chosen with ``--sampling``:

``fixed``
    The corpus is cut into ``batch_size`` contiguous streams at the same offsets every
    epoch and read window by window with the hidden state carried from one window to the
    next (char-rnn, pytorch/examples' word_language_model). Every epoch replays the same
    windows in the same order.
``streams``
    The same carried-state streams, but each epoch starts them at a new random offset
    into the corpus, and each batch's window length is drawn around ``seq_len``: ``seq_len``
    with probability 0.95, else half of it, plus Gaussian noise (AWD-LSTM, Merity et al.
    2017). The learning rate is scaled by ``length / seq_len`` for that batch, as AWD-LSTM
    does, so a short window does not weigh as much as a long one. A multi-epoch run then
    sees new window boundaries every epoch.
``random``
    Every row of every batch is an independent window at a uniformly random position,
    read from a zero state (nanoGPT). No two epochs repeat, and nothing is carried.

Every draw comes from a generator seeded by ``(seed, epoch, position)`` or
``(seed, step)``, never from a generator that runs on, so the whole data order is a
function of the :class:`Cursor`, which checkpoints store: a resumed run reads exactly
the windows the uninterrupted one would have read, on one process or several. Under
DDP every rank makes the same draws for the global batch and reads its own rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..errors import CorpusError

MODES = ("auto", "fixed", "streams", "random")
SHORT_WINDOW_P = 0.05  # AWD-LSTM: one batch in twenty uses half the window length
MIN_WINDOW = 4


@dataclass
class Cursor:
    """Where the data order stands: all the state a checkpoint needs to resume it exactly."""

    step: int = 0  # batches read so far
    epoch: int = 0
    position: int = 0  # tokens read so far in each stream this epoch (carried-state modes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Cursor":
        return cls(**{k: int(data[k]) for k in ("step", "epoch", "position")})


@dataclass
class Batch:
    """One training batch: inputs and targets (B, T) on the host, and how to treat the state."""

    inputs: torch.Tensor
    targets: torch.Tensor
    reset_state: bool  # start from a zero state (new epoch, or a random-window batch)
    lr_scale: float  # multiply the learning rate by this for this batch


class WindowSampler:
    """Training batches for one process, in the order ``mode`` defines (see the module doc).

    :param tokens: the training ids (an array or a memory map).
    :param batch_size: rows per step across all processes; each rank reads its own rows.
    """

    def __init__(self, tokens: np.ndarray, mode: str, batch_size: int, seq_len: int, seed: int,
                 rank: int = 0, world_size: int = 1):
        if mode not in MODES[1:]:
            raise ValueError(f"sampling mode must be one of {', '.join(MODES[1:])}, got {mode!r}")
        if batch_size % world_size:
            raise CorpusError(f"batch size {batch_size} is not divisible by {world_size} processes")
        self.tokens, self.mode, self.seq_len, self.seed = tokens, mode, seq_len, seed
        self.batch_size, self.local_batch = batch_size, batch_size // world_size
        self.rows = slice(rank * self.local_batch, (rank + 1) * self.local_batch)
        self.stream_len = (len(tokens) - 1) // batch_size  # each stream's targets end within the corpus
        self.max_len = seq_len if mode != "streams" else int(seq_len * 1.2) + 1
        # Every mode asks for one full batch of distinct windows, so that a corpus too short
        # for the streams is refused the same way whichever order reads it.
        if len(tokens) < batch_size * (seq_len + 1) or self.stream_len < seq_len:
            raise CorpusError(
                f"training text is too short: {len(tokens)} tokens cannot fill one window of "
                f"{batch_size} streams x {seq_len + 1} tokens; lower --batch-size or --seq-len")

    @property
    def windows_per_epoch(self) -> int:
        """Batches in one pass over the corpus (on average, where window lengths vary)."""
        return max(1, self.stream_len // self.seq_len)

    @property
    def tokens_per_window(self) -> int:
        return self.local_batch * self.seq_len

    # -- the draws ----------------------------------------------------------------------
    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed & 0xFFFFFFFF, *key])

    def _offset(self, epoch: int) -> int:
        """Where stream 0 starts in epoch ``epoch``; streams wrap around the corpus end."""
        if self.mode == "fixed":
            return 0
        return int(self._rng(1, epoch).integers(0, len(self.tokens) - 1))

    def _length(self, cursor: Cursor) -> int:
        if self.mode != "streams":
            return self.seq_len
        rng = self._rng(2, cursor.epoch, cursor.position)
        base = self.seq_len if rng.random() >= SHORT_WINDOW_P else self.seq_len / 2
        noise = max(1.0, self.seq_len / 25)  # AWD-LSTM: sd 5 at 70 tokens
        return int(np.clip(round(rng.normal(base, noise)), MIN_WINDOW, self.max_len))

    # -- reading -----------------------------------------------------------------------
    def next(self, cursor: Cursor) -> tuple[Batch, Cursor]:
        """The batch at ``cursor`` and the cursor after it."""
        if self.mode == "random":
            return self._random(cursor)
        length = self._length(cursor)
        epoch, position, reset = cursor.epoch, cursor.position, cursor.position == 0
        if position + length > self.stream_len:  # the epoch's streams are used up
            epoch, position, reset = epoch + 1, 0, True
            length = self._length(Cursor(cursor.step, epoch, 0))
        starts = np.arange(self.batch_size)[self.rows] * self.stream_len + self._offset(epoch) + position
        batch = self._batch(starts, length, reset, length / self.seq_len)
        return batch, Cursor(cursor.step + 1, epoch, position + length)

    def _random(self, cursor: Cursor) -> tuple[Batch, Cursor]:
        starts = self._rng(3, cursor.step).integers(0, len(self.tokens) - self.seq_len, self.batch_size)[self.rows]
        epoch = (cursor.step + 1) // self.windows_per_epoch
        return self._batch(starts, self.seq_len, True, 1.0), Cursor(cursor.step + 1, epoch, 0)

    def _batch(self, starts: np.ndarray, length: int, reset: bool, lr_scale: float) -> Batch:
        """Rows ``tokens[start : start + length + 1]``, wrapping past the corpus end, as (B, T) pairs."""
        index = (starts[:, None] + np.arange(length + 1)[None, :]) % len(self.tokens)  # (B, T+1)
        data = torch.from_numpy(np.asarray(self.tokens[index], dtype=np.int64))
        return Batch(data[:, :-1], data[:, 1:], reset, lr_scale)


class DeviceSampler:
    """A :class:`WindowSampler` whose batches arrive on ``device``.

    On CUDA the whole corpus is uploaded once when it fits in ``resident_max_bytes``, and
    each batch is one gather on the GPU with no host-to-device copy, as in a hand-written
    loop; larger corpora travel batch by batch through pinned memory with a non-blocking
    copy. On the CPU the host tensors are used as they are. Every path yields the same tokens.
    """

    def __init__(self, sampler: WindowSampler, device: torch.device, resident_max_bytes: int = 1 << 30):
        self.sampler, self.device = sampler, device
        self._resident = None
        if device.type == "cuda" and len(sampler.tokens) * 8 <= resident_max_bytes:
            self._resident = torch.from_numpy(np.asarray(sampler.tokens, dtype=np.int64)).to(device)
            self.sampler = _ResidentSampler(sampler, self._resident)

    @property
    def mode(self) -> str:
        if self.device.type != "cuda":
            return "host"
        return "resident" if self._resident is not None else "pinned"

    def next(self, cursor: Cursor) -> tuple[Batch, Cursor]:
        batch, after = self.sampler.next(cursor)
        if batch.inputs.device.type != self.device.type:
            pinned = self.device.type == "cuda"
            data = torch.stack([batch.inputs, batch.targets])
            data = (data.pin_memory() if pinned else data).to(self.device, non_blocking=pinned)
            batch = Batch(data[0], data[1], batch.reset_state, batch.lr_scale)
        return batch, after


class _ResidentSampler(WindowSampler):
    """The same draws as ``base``, gathered from a copy of the corpus on the GPU."""

    def __init__(self, base: WindowSampler, resident: torch.Tensor):
        self.__dict__.update(base.__dict__)
        self._gpu = resident

    def _batch(self, starts: np.ndarray, length: int, reset: bool, lr_scale: float) -> Batch:
        gpu = self._gpu
        first = torch.from_numpy(starts).to(gpu.device, non_blocking=True)  # (B,): the only upload
        index = (first[:, None] + torch.arange(length + 1, device=gpu.device)[None, :]) % len(gpu)
        data = gpu[index]  # (B, T+1)
        return Batch(data[:, :-1], data[:, 1:], reset, lr_scale)

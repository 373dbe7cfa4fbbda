"""Choosing the next token from logits (B, V): pure functions plus per-sample random streams.

The order applied by :func:`choose_next` is the usual one (as in Hugging Face's
``generate``): mask ids that must never appear, repetition penalty, then greedy
argmax, or temperature, top-k, top-p and a draw.

Draws use inverse-CDF sampling with one uniform number per row and step. Row ``i``'s
uniforms come from its own ``torch.Generator`` (see :class:`UniformStreams`), so what
sample ``i`` draws does not depend on how many samples share its batch.
"""

from __future__ import annotations

import hashlib
import math
import operator
import secrets
from dataclasses import dataclass
from typing import Sequence

import torch

from .errors import ConfigError


@dataclass(frozen=True)
class SamplingOptions:
    """How to pick each next token; invalid values raise :class:`ConfigError`.

    ``temperature`` is ignored (and may be 0) when ``greedy`` is set.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0
    greedy: bool = False

    def __post_init__(self):
        if not self.greedy and not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(
                f"temperature must be a positive number, got {self.temperature} (use greedy decoding for temperature 0)"
            )
        if self.top_k is not None:
            check_count("top_k", self.top_k, 1)
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if not (math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0):
            raise ConfigError(f"repetition_penalty must be a positive number, got {self.repetition_penalty}")


def check_count(name: str, value, minimum: int) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an integer (not a bool) >= ``minimum``."""
    try:
        valid = not isinstance(value, bool) and operator.index(value) >= minimum
    except TypeError:
        valid = False
    if not valid:
        raise ConfigError(f"{name} must be an integer of at least {minimum}, got {value!r}")


def forbidden_bias(vocab_size: int, ids: Sequence[int], device=None) -> torch.Tensor | None:
    """(V,) tensor: 0 everywhere, -inf on ``ids``; ``None`` when there is nothing to forbid."""
    ids = [i for i in ids if 0 <= i < vocab_size]
    if not ids:
        return None
    bias = torch.zeros(vocab_size, device=device)
    bias[ids] = -math.inf
    return bias


def penalize_repetition(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """Repetition penalty of CTRL (Keskar et al. 2019): for each token already generated
    (``seen``, (B, V) bool), divide a positive logit by ``penalty`` and multiply a negative one."""
    penalized = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalized, logits)


def keep_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Set every logit below the row's k-th largest to -inf (ties with it are kept)."""
    if k >= logits.shape[-1]:
        return logits
    kth = logits.topk(k, dim=-1).values[:, -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, -math.inf)


def keep_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al. 2020): keep the smallest set of most likely tokens
    whose probability reaches ``p``; the most likely token is always kept."""
    if p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above
    sorted_logits = sorted_logits.masked_fill(mass_before >= p, -math.inf)
    return torch.empty_like(logits).scatter_(-1, order, sorted_logits)


def pick_greedy(logits: torch.Tensor) -> torch.Tensor:
    """Most likely token per row, (B,)."""
    return logits.argmax(dim=-1)


# Scales each uniform so that u * total stays below the cdf's total after float rounding:
# the search then always lands on a token of positive probability (bias: about 1e-6).
_BELOW_ONE = 1.0 - 2.0**-20


def draw(logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Sample one token per row of softmax(``logits``) by inverse CDF, given ``uniforms`` (B,) in [0, 1).

    Tokens with probability 0 (logit -inf) are never returned.
    """
    cdf = logits.softmax(dim=-1).cumsum(dim=-1)  # (B, V), non-decreasing
    target = cdf[:, -1:] * (uniforms.to(cdf.dtype) * _BELOW_ONE)[:, None]  # (B, 1), below the total
    return torch.searchsorted(cdf, target, right=True)[:, 0]  # first index whose cdf exceeds target


def choose_next(
    logits: torch.Tensor,
    options: SamplingOptions,
    *,
    uniforms: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    seen: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pick the next token per row from ``logits`` (B, V); returns (B,) ids.

    :param uniforms: (B,) numbers in [0, 1), one per row; needed unless ``options.greedy``.
    :param bias: (V,) added first, -inf on ids never to produce (see :func:`forbidden_bias`).
    :param seen: (B, V) bool, tokens generated so far, for the repetition penalty.
    """
    logits = logits.float()  # (B, V); the filters below never write into their input
    if bias is not None:
        logits = logits + bias
    if seen is not None and options.repetition_penalty != 1.0:
        logits = penalize_repetition(logits, seen, options.repetition_penalty)
    if options.greedy:
        return pick_greedy(logits)
    if options.temperature != 1.0:
        logits = logits / options.temperature
    if options.top_k is not None:
        logits = keep_top_k(logits, options.top_k)
    if options.top_p is not None:
        logits = keep_top_p(logits, options.top_p)
    return draw(logits, uniforms)


def sample_seed(seed: int | None, index: int) -> int:
    """Seed of sample ``index``'s generator, derived from ``(seed, index)`` by a stable hash."""
    digest = hashlib.blake2b(f"textrnn:{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # fits a signed 64-bit seed


class UniformStreams:
    """One ``torch.Generator`` per sample; ``next()`` gives each row's uniform for this step, (B,).

    Sample ``i`` is seeded from ``(seed, i)`` and draws ``CHUNK`` numbers at a time, so its
    sequence is the same whatever batch it runs in. ``seed=None`` picks a random seed.
    """

    CHUNK = 64

    def __init__(self, seed: int | None, samples: Sequence[int], device=None):
        base = secrets.randbits(63) if seed is None else seed
        self.generators = [torch.Generator().manual_seed(sample_seed(base, i)) for i in samples]
        self.device = device
        self._chunk: torch.Tensor | None = None  # (B, CHUNK) on device
        self._column = self.CHUNK

    def _refill_if_used_up(self) -> None:
        if self._column == self.CHUNK:
            rows = [torch.rand(self.CHUNK, generator=g) for g in self.generators]
            self._chunk = torch.stack(rows).to(self.device)
            self._column = 0

    def next(self) -> torch.Tensor:
        self._refill_if_used_up()
        self._column += 1
        return self._chunk[:, self._column - 1]

    def take(self, steps: int) -> torch.Tensor:
        """The next ``steps`` uniforms of every row at once, (B, steps): ``next()`` that many times."""
        parts = []
        while steps:
            self._refill_if_used_up()
            count = min(steps, self.CHUNK - self._column)
            parts.append(self._chunk[:, self._column : self._column + count])
            self._column += count
            steps -= count
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def select(self, rows: Sequence[int]) -> None:
        """Keep only batch rows ``rows`` (samples that are still running)."""
        self.generators = [self.generators[r] for r in rows]
        if self._chunk is not None:
            self._chunk = self._chunk[torch.as_tensor(list(rows), device=self._chunk.device)]

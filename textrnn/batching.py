"""Continuous batching: concurrent generation requests for one language model share one batched step.

A :class:`BatchGenerator` owns a worker thread and one :class:`textrnn.inference.Stepper`.
Each request's prompt is primed on its own (its length is its own), and its rows then
join the running batch between two steps; a row leaves the batch as soon as it is done
(``max_tokens`` reached, a stop sequence, or the request cancelled). So a new request
waits at most one step, not for the requests before it to finish (Orca, Yu et al. 2022,
calls this iteration-level scheduling).

Row ``i`` of a request draws its uniform numbers from a generator seeded from
``(seed, i)`` exactly as :func:`textrnn.generation.generate` seeds sample ``i``, and
every row is chosen by :func:`textrnn.sampling.choose_next`: a seeded request gives the
text of ``textrnn generate --seed`` whatever else shares its batch (up to the float
rounding differences between batched and one-row products that generation.py describes).
"""

from __future__ import annotations

import queue
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import torch

from .errors import ConfigError
from .generation import _check_stops, _TextAssembler, context_ids
from .inference import join_batch, make_stepper
from .sampling import SamplingOptions, UniformStreams, check_count, choose_next, forbidden_bias

#: finish reasons, as OpenAI's API names them
LENGTH, STOP = "length", "stop"


@dataclass
class GenerationRequest:
    """One request: ``n`` samples continuing ``prompt``.

    ``on_text(index, piece)`` and ``on_done(result)`` are called from the worker thread;
    keep them short (hand the data to your own thread or event loop).
    """

    prompt: str
    max_tokens: int
    options: SamplingOptions = field(default_factory=SamplingOptions)
    n: int = 1
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    on_text: Callable[[int, str], None] | None = None
    on_done: Callable[["GenerationResult"], None] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    context: list[int] = field(default_factory=list)  # prompt ids, set by ``submit``

    def cancel(self) -> None:
        """Stop generating for this request: its rows leave the batch before the next step."""
        self.cancelled.set()


@dataclass
class GenerationResult:
    texts: list[str]
    finish_reasons: list[str]  # LENGTH or STOP per sample
    completion_tokens: int  # generated tokens, all samples together
    prompt_tokens: int
    error: BaseException | None = None


class _Row:
    """One sample of one request inside the running batch."""

    def __init__(self, request: GenerationRequest, index: int, assembler: _TextAssembler, streams):
        self.request = request
        self.index = index
        self.assembler = assembler
        self.streams = streams  # UniformStreams for this one sample, None when greedy
        self.tokens = 0
        self.reason = LENGTH


class _Pending:
    """A request's results while some of its rows still run."""

    def __init__(self, request: GenerationRequest):
        self.request = request
        self.texts: list[str | None] = [None] * request.n
        self.reasons = [LENGTH] * request.n
        self.tokens = 0

    def finish(self, row: _Row) -> bool:
        """Record a finished row; True once every row of the request has finished."""
        self.texts[row.index] = row.assembler.finish()
        self.reasons[row.index] = row.reason
        self.tokens += row.tokens
        return all(t is not None for t in self.texts)

    def result(self) -> GenerationResult:
        return GenerationResult(list(self.texts), self.reasons, self.tokens, len(self.request.context))


class BatchGenerator:
    """Generate for many requests at once with one model; thread-safe ``submit``.

    :param model: an LM with ``forward(ids, state=None) -> (logits, state)``, on ``device``, in eval mode.
    :param tokenizer: its tokenizer (unknown ids are never generated).
    :param max_batch: most rows (samples) in one step; a request waits until its rows fit.
    """

    def __init__(self, model, tokenizer, device: str | torch.device = "cpu", max_batch: int = 32):
        check_count("max_batch", max_batch, 1)
        self.model = model
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.max_batch = max_batch
        self._inbox: queue.Queue[GenerationRequest | None] = queue.Queue()
        self._waiting: deque[GenerationRequest] = deque()
        self._rows: list[_Row] = []
        self._pending: dict[int, _Pending] = {}
        self._logits: torch.Tensor | None = None  # (B, V): next-token logits of every row
        self._seen: torch.Tensor | None = None  # (B, V) bool: tokens each row generated
        self._closing = False
        self.steps = 0  # batched steps run, for metrics
        self.rows_stepped = 0  # sum of the batch sizes of those steps
        self._thread = threading.Thread(target=self._run, name="textrnn-batch", daemon=True)
        with torch.inference_mode():
            self._stepper = make_stepper(model, self.device)
            self._bias = forbidden_bias(tokenizer.vocab_size, tokenizer.unknown_ids(), self.device)
        self._thread.start()

    # ---- called from any thread -------------------------------------------------------
    def submit(self, request: GenerationRequest) -> None:
        """Queue ``request``; raises :class:`ConfigError` at once for invalid parameters."""
        check_count("max_tokens", request.max_tokens, 0)
        check_count("n", request.n, 1)
        if request.n > self.max_batch:
            raise ConfigError(f"n must be at most the batch size {self.max_batch}, got {request.n}")
        request.stop = _check_stops(request.stop)
        request.context = context_ids(self.tokenizer, request.prompt)
        if self._closing:
            raise ConfigError("the generator is shutting down")
        self._inbox.put(request)

    def close(self, timeout: float | None = None) -> None:
        """Finish the requests already submitted, then stop the worker thread."""
        self._closing = True
        self._inbox.put(None)
        self._thread.join(timeout)

    @property
    def active_rows(self) -> int:
        return len(self._rows)

    # ---- the worker thread -------------------------------------------------------------
    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                if not self._take_new(block=not self._rows):
                    break
                self._admit()
                if self._rows:
                    try:
                        self._advance()
                    except Exception as exc:  # noqa: BLE001 - fail the requests, keep serving
                        self._fail_all(exc)

    def _take_new(self, block: bool) -> bool:
        """Move submitted requests to the waiting line; False once closed and nothing is left."""
        while True:
            if self._closing and not self._waiting and not self._rows and self._inbox.empty():
                return False
            try:
                item = self._inbox.get(block=block and not self._waiting and not self._closing)
            except queue.Empty:
                return True
            if item is None:
                self._closing = True
            else:
                self._waiting.append(item)
            block = False

    def _admit(self) -> None:
        """Prime waiting requests whose rows fit and join them to the batch."""
        while self._waiting and len(self._rows) + self._waiting[0].n <= self.max_batch:
            request = self._waiting.popleft()
            if request.cancelled.is_set() or request.max_tokens == 0:
                self._finish_now(request)
                continue
            try:
                self._join(request)
            except Exception as exc:  # noqa: BLE001 - this request fails, the batch goes on
                self._deliver(request, GenerationResult([], [], 0, len(request.context), error=exc))

    def _join(self, request: GenerationRequest) -> None:
        running = None if not self._rows else [s.clone() for s in self._stepper.state]  # prime overwrites it
        logits = self._logits.clone() if self._rows else None
        primed = self._stepper.prime(torch.tensor([request.context], device=self.device))  # (1, V)
        fresh = tuple(s.index_select(1, torch.zeros(request.n, dtype=torch.long, device=self.device))
                      for s in self._stepper.state)  # one primed state per sample
        self._stepper.load_state(fresh if running is None else join_batch([tuple(running), fresh]))
        primed = primed.float().expand(request.n, -1)  # (n, V)
        self._logits = primed if logits is None else torch.cat([logits, primed])
        seen = torch.zeros(primed.shape, dtype=torch.bool, device=self.device)  # (n, V)
        self._seen = seen if self._seen is None or not self._rows else torch.cat([self._seen, seen])
        base = secrets.randbits(63) if request.seed is None else request.seed
        self._pending[id(request)] = _Pending(request)
        for index in range(request.n):
            assembler = _TextAssembler(self.tokenizer, request.context, request.stop, index, request.on_text)
            streams = None if request.options.greedy else UniformStreams(base, [index], self.device)
            self._rows.append(_Row(request, index, assembler, streams))

    def _advance(self) -> None:
        """Choose one token per row, hand it on, drop finished rows, step the rest."""
        tokens = self._choose()  # (B,)
        self.steps += 1
        self.rows_stepped += len(self._rows)
        keep = []
        for position, (row, token) in enumerate(zip(self._rows, tokens.tolist())):
            row.tokens += 1
            stopped = row.assembler.push(token)
            if stopped:
                row.reason = STOP
            if stopped or row.tokens >= row.request.max_tokens or row.request.cancelled.is_set():
                self._finish_row(row)
            else:
                keep.append(position)
        if len(keep) < len(self._rows):
            self._rows = [self._rows[p] for p in keep]
            if not keep:
                self._logits = self._seen = None
                return
            index = torch.tensor(keep, device=self.device)
            self._stepper.reorder(index)
            tokens, self._seen = tokens[index], self._seen[index]
        self._logits = self._stepper.step(tokens)  # (B, V)

    def _choose(self) -> torch.Tensor:
        """Next token of every row: rows that share sampling options are chosen together."""
        groups: dict[SamplingOptions, list[int]] = {}
        for position, row in enumerate(self._rows):
            groups.setdefault(row.request.options, []).append(position)
        tokens = torch.empty(len(self._rows), dtype=torch.long, device=self.device)
        for options, positions in groups.items():
            uniforms = None
            if not options.greedy:
                uniforms = torch.cat([self._rows[p].streams.next() for p in positions])  # (b,)
            if len(positions) == len(self._rows):
                tokens = choose_next(self._logits, options, uniforms=uniforms, bias=self._bias, seen=self._seen)
            else:
                index = torch.tensor(positions, device=self.device)
                tokens[index] = choose_next(self._logits[index], options, uniforms=uniforms, bias=self._bias,
                                            seen=self._seen[index])
        self._seen.scatter_(1, tokens[:, None], True)
        return tokens

    def _finish_row(self, row: _Row) -> None:
        pending = self._pending[id(row.request)]
        if pending.finish(row):
            del self._pending[id(row.request)]
            self._deliver(row.request, pending.result())

    def _finish_now(self, request: GenerationRequest) -> None:
        self._deliver(request, GenerationResult([""] * request.n, [LENGTH] * request.n, 0, len(request.context)))

    def _fail_all(self, exc: BaseException) -> None:
        requests = {id(row.request): row.request for row in self._rows}
        self._rows, self._logits, self._seen = [], None, None
        for key, request in requests.items():
            self._pending.pop(key, None)
            self._deliver(request, GenerationResult([], [], 0, len(request.context), error=exc))

    @staticmethod
    def _deliver(request: GenerationRequest, result: GenerationResult) -> None:
        if request.on_done is not None:
            request.on_done(result)


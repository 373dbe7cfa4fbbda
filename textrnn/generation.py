"""Text generation from a language model: sampling, greedy decoding, beam search, streaming.

The prompt is run through the model once (``Stepper.prime``); every new token then costs
one recurrent step (:mod:`textrnn.inference`). All samples run as one batch; samples that
hit a stop sequence leave the batch. Randomness is per sample (see
:class:`textrnn.sampling.UniformStreams`), so a seed gives the same texts whether the
samples run together or one at a time (up to float rounding differences between batched
and single-row matrix products, which change a draw only when a uniform number lands
within ~1e-7 of a boundary between tokens).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .contracts import PerTokenDecoding, StreamDecoding, supports
from .errors import ConfigError
from .inference import Stepper, make_stepper
from .sampling import SamplingOptions, UniformStreams, check_count, choose_next, forbidden_bias

TextCallback = Callable[[int, str], None]

_REPLACEMENT = "\ufffd"  # what decoders produce for an incomplete byte sequence
_CONTEXT_WINDOW = 8  # prompt tokens kept as left context for incremental decoding
GRAPH_STEPS = 16  # tokens per CUDA graph replay when sampling inside the graph
NATIVE_STEPS = 64  # tokens per call when the compiled CPU step samples (one chunk of uniforms)


def generate(model, tokenizer, *, prompt: str = "", max_tokens: int = 200, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, repetition_penalty: float = 1.0,
             greedy: bool = False, num_samples: int = 1, seed: int | None = None,
             stop: list[str] | None = None, beam_size: int = 1, device: str | torch.device = "cpu",
             on_text: "Callable[[int, str], None] | None" = None) -> list[str]:
    """Continue ``prompt``; return one continuation per sample (the prompt not included).

    :param model: an LM with ``forward(ids, state=None) -> (logits, state)``; it is moved to
        ``device`` and used in eval mode (its training mode is restored afterwards).
    :param tokenizer: the model's tokenizer; its ``unknown_ids()`` are never generated.
    :param prompt: text to continue. Empty: start from ``tokenizer.newline_id``, else from
        the id of a lone space, else from the lowest id that is not unknown.
    :param max_tokens: tokens to generate per sample (fewer when a stop sequence ends it).
    :param temperature: divides the logits; must be > 0 unless ``greedy``.
    :param top_k: sample only among the ``top_k`` likeliest tokens.
    :param top_p: nucleus sampling: the likeliest tokens that together reach ``top_p``.
    :param repetition_penalty: CTRL's penalty (> 0, 1 = off) on tokens this sample has
        already generated; prompt tokens are not penalized.
    :param greedy: always take the likeliest token (no randomness).
    :param num_samples: samples to generate, as one batch.
    :param seed: makes sampling reproducible; sample ``i`` depends only on ``(seed, i)``.
    :param stop: strings that end a sample once its text contains one; the text is cut
        just before the stop string.
    :param beam_size: > 1 runs beam search over the sum of log-probabilities and returns
        the best beam. It ignores temperature, top-k, top-p, the repetition penalty and the
        seed; ``num_samples`` must then be 1; ``max_tokens`` tokens are searched and the
        best beam is then cut at the first stop sequence.
    :param device: where to run; on CUDA the recurrent step is replayed as a CUDA graph.
    :param on_text: ``on_text(sample_index, piece)`` receives each new piece of text as soon
        as it is known (beam search: once the search ends). The pieces of a sample
        concatenate to its returned text.
    """
    options = SamplingOptions(temperature, top_k, top_p, repetition_penalty, greedy)
    check_count("max_tokens", max_tokens, 0)
    check_count("num_samples", num_samples, 1)
    check_count("beam_size", beam_size, 1)
    if beam_size > 1 and num_samples > 1:
        raise ConfigError("beam search is deterministic and returns one text: use num_samples=1 with beam_size > 1")
    stops = _check_stops(stop)
    context = context_ids(tokenizer, prompt)
    device = torch.device(device)
    assemblers = [_TextAssembler(tokenizer, context, stops, i, on_text) for i in range(num_samples)]
    if max_tokens == 0:
        return ["" for _ in assemblers]
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.inference_mode():
            stepper = make_stepper(model, device)
            logits = stepper.prime(torch.tensor([context], device=device))  # (1, V)
            bias = forbidden_bias(logits.shape[-1], tokenizer.unknown_ids(), device)
            if beam_size > 1:
                for token in beam_search(stepper, logits, beam_size, max_tokens, bias):
                    if assemblers[0].push(token):
                        break
            else:
                _sample(stepper, logits, options, assemblers, max_tokens, seed, bias, live=bool(stops or on_text))
    finally:
        model.train(was_training)
    return [a.finish() for a in assemblers]


def _sample(stepper: Stepper, logits: torch.Tensor, options: SamplingOptions, assemblers: list["_TextAssembler"],
            max_tokens: int, seed: int | None, bias: torch.Tensor | None, live: bool) -> None:
    """Sample after a primed ``stepper`` (its prompt logits (1, V)) into ``assemblers``.

    ``live`` hands tokens to the assemblers after every step (streaming, stop sequences)
    instead of once at the end, and drops finished samples from the batch.
    """
    device = logits.device
    batch = len(assemblers)
    if batch > 1:
        stepper.reorder(torch.zeros(batch, dtype=torch.long, device=device))  # one primed state per sample
        logits = logits.expand(batch, -1)  # (B, V)
    rows = list(range(batch))  # batch row -> position in ``assemblers``
    streams = None if options.greedy else UniformStreams(seed, [a.index for a in assemblers], device)
    seen = None
    if options.repetition_penalty != 1.0:
        seen = torch.zeros(logits.shape, dtype=torch.bool, device=device)  # (B, V) tokens generated so far

    def choose(step_logits: torch.Tensor, uniforms: torch.Tensor | None) -> torch.Tensor:
        tokens = choose_next(step_logits, options, uniforms=uniforms, bias=bias, seen=seen)  # (B,)
        if seen is not None:
            seen.scatter_(1, tokens[:, None], True)
        return tokens

    # A CUDA-graph stepper samples GRAPH_STEPS tokens per replay when nothing needs to see
    # each token as it comes (streaming and stop sequences do). The compiled CPU step
    # chooses tokens itself, NATIVE_STEPS per call (one at a time when live).
    graphed = hasattr(stepper, "sample_steps") and not live
    native = hasattr(stepper, "draws") and stepper.draws()
    produced: list[torch.Tensor] = []  # (B, n) blocks, when not live
    position = 0
    while position < max_tokens:
        if position and graphed and max_tokens - position >= GRAPH_STEPS:
            uniforms = streams.take(GRAPH_STEPS) if streams is not None else None  # (B, K)
            block = stepper.sample_steps(tokens, GRAPH_STEPS, uniforms, choose, () if seen is None else (seen,))
            if block is not None:
                produced.append(block.clone())  # (B, K); the graph's buffer is reused
                tokens, position = block[:, -1], position + GRAPH_STEPS
                continue
            graphed = False  # capture failed: go on step by step (the uniforms taken are skipped)
        if position and native:
            steps = 1 if live else min(NATIVE_STEPS, max_tokens - position)
            uniforms = streams.take(steps) if streams is not None else None  # (1, steps)
            block = stepper.draw_steps(tokens, steps, uniforms, options, bias, seen)  # (1, steps)
            tokens, position = block[:, -1], position + steps
        else:
            if position:
                logits = stepper.step(tokens)  # (B, V)
            tokens = choose(logits, streams.next() if streams is not None else None)  # (B,)
            position += 1
            block = tokens[:, None]
        if not live:
            produced.append(block)
            continue
        done = {row for row, token in enumerate(tokens.tolist()) if assemblers[rows[row]].push(token)}
        if done:
            keep = [row for row in range(len(rows)) if row not in done]
            if not keep:
                return
            index = torch.tensor(keep, device=device)
            stepper.reorder(index)
            tokens = tokens[index]
            seen = seen[index] if seen is not None else None
            if streams is not None:
                streams.select(keep)
            rows = [rows[row] for row in keep]
    if produced:
        for assembler, ids in zip(assemblers, torch.cat(produced, dim=1).tolist()):
            for token in ids:
                assembler.push(token)


def beam_search(stepper: Stepper, logits: torch.Tensor, beam_size: int, max_tokens: int,
                bias: torch.Tensor | None = None) -> list[int]:
    """Return the ``max_tokens`` ids with the highest total log-probability found by
    left-to-right beam search with ``beam_size`` beams.

    :param stepper: primed with one prompt; ``logits`` (1, V) are its last-position logits.
    :param bias: (V,) added to the logits first, -inf on ids never to produce.
    """
    vocab = logits.shape[-1]
    scores = torch.zeros(1, device=logits.device)  # (K,) log-probability of each beam
    history: list[tuple[torch.Tensor, torch.Tensor]] = []  # (tokens, parent rows) per position
    for position in range(max_tokens):
        if position:
            logits = stepper.step(tokens)  # (K, V)
        logits = logits.float() if bias is None else logits.float() + bias
        total = (scores[:, None] + logits.log_softmax(dim=-1)).flatten()  # (K * V,)
        scores, flat = total.topk(min(beam_size, total.numel()))  # sorted, best first
        tokens, parents = flat % vocab, flat // vocab  # (K,) each
        history.append((tokens, parents))
        if position + 1 < max_tokens:
            stepper.reorder(parents)
    best: list[int] = []
    row = 0  # the best final beam; follow its parents back
    for tokens, parents in reversed(history):
        best.append(int(tokens[row]))
        row = int(parents[row])
    return best[::-1]


def context_ids(tokenizer, prompt: str) -> list[int]:
    """Ids that prime generation: the encoded prompt, or one start id when it is empty."""
    unknown = set(tokenizer.unknown_ids())
    ids = tokenizer.encode(prompt) if prompt else []
    if ids and all(i in unknown for i in ids):
        raise ConfigError(f"every part of the prompt {prompt!r} is outside the model's vocabulary; "
                          "use text like the training data, or an empty prompt")
    return ids or [start_id(tokenizer)]


def start_id(tokenizer) -> int:
    """Token to start from without a prompt: newline, else a lone space, else the lowest known id.

    A newline (or space) is the most neutral left context: what training text looks like
    at a line (or word) boundary.
    """
    unknown = set(tokenizer.unknown_ids())
    if tokenizer.newline_id is not None:
        return tokenizer.newline_id
    space = tokenizer.encode(" ")
    if len(space) == 1 and space[0] not in unknown:
        return space[0]
    return next(i for i in range(tokenizer.vocab_size) if i not in unknown)


def decodes_per_token(tokenizer) -> bool:
    """Whether ``decode(ids) == "".join(id_to_text(i) for i in ids)`` always holds.

    A tokenizer says so with ``decodes_per_token = True``
    (:class:`textrnn.contracts.PerTokenDecoding`).
    """
    return supports(tokenizer, PerTokenDecoding)


def stream_decoder(tokenizer, context: Sequence[int]):
    """An incremental decoder, ``push(id) -> new text`` and ``flush() -> rest``, continuing ``context``.

    In order of preference: the tokenizer's own ``stream_decoder()`` (the subword
    tokenizers have an exact byte-level one); ``id_to_text`` per token where
    :func:`decodes_per_token`; else decoding a short window of recent ids.
    """
    if supports(tokenizer, StreamDecoding):
        return tokenizer.stream_decoder()
    if decodes_per_token(tokenizer):
        return _PerTokenDecoder(tokenizer)
    return _WindowDecoder(tokenizer, context)


class _PerTokenDecoder:
    def __init__(self, tokenizer):
        self.push = tokenizer.id_to_text

    def flush(self) -> str:
        return ""


class _WindowDecoder:
    """Incremental detokenization as in Hugging Face text-generation-inference: decode a short
    window of ids with and without the new ones, and pass on the difference once it does not
    end in U+FFFD (an incomplete character). Costs two decodes of a few ids per token."""

    def __init__(self, tokenizer, context: Sequence[int]):
        self.decode = tokenizer.decode
        self.ids = list(context[-_CONTEXT_WINDOW:])  # left context, then generated ids
        self.prefix = 0  # ids[prefix:read] decode to text already passed on
        self.read = len(self.ids)

    def push(self, token: int) -> str:
        self.ids.append(token)
        piece = self._new_text()
        if not piece or piece.endswith(_REPLACEMENT):
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        if self.prefix > 4 * _CONTEXT_WINDOW:  # forget ids far behind the window
            del self.ids[: self.prefix]
            self.prefix, self.read = 0, self.read - self.prefix
        return piece

    def flush(self) -> str:
        """What is left, an incomplete character at the very end included (as U+FFFD)."""
        piece = self._new_text()
        self.prefix = self.read = len(self.ids)
        return piece

    def _new_text(self) -> str:
        before = self.decode(self.ids[self.prefix : self.read])
        after = self.decode(self.ids[self.prefix :])
        return after[len(before) :] if len(after) > len(before) else ""


class _TextAssembler:
    """One sample's text, built token by token: incremental decoding, streaming, stop sequences.

    Text that might be the start of a stop sequence is held back until it is known not to
    be, so streamed pieces never include any part of a stop sequence that ends the sample.
    """

    def __init__(self, tokenizer, context: Sequence[int], stops: list[str], index: int,
                 on_text: TextCallback | None):
        self.decoder = stream_decoder(tokenizer, context)
        self.stops = stops
        self.index = index
        self.on_text = on_text
        self.pieces: list[str] = []
        self.pending = ""  # text held back: it may begin a stop sequence
        self.stopped = False

    def push(self, token: int) -> bool:
        """Add one generated id; returns True once a stop sequence has ended the sample."""
        if not self.stopped:
            self._add(self.decoder.push(token))
        return self.stopped

    def finish(self) -> str:
        """Flush what is held back and return the sample's text."""
        if not self.stopped:
            self._add(self.decoder.flush())
        if not self.stopped:
            self._emit(self.pending)
            self.pending = ""
        return "".join(self.pieces)

    def _add(self, piece: str) -> None:
        if not piece:
            return
        text = self.pending + piece
        if not self.stops:
            self._emit(text)
            self.pending = ""
            return
        found = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        if found:
            self._emit(text[: min(found)])
            self.pending, self.stopped = "", True
            return
        hold = max((k for s in self.stops for k in range(1, min(len(s), len(text) + 1)) if text.endswith(s[:k])),
                   default=0)
        self._emit(text[: len(text) - hold])
        self.pending = text[len(text) - hold :]

    def _emit(self, text: str) -> None:
        if text:
            self.pieces.append(text)
            if self.on_text is not None:
                self.on_text(self.index, text)


def _check_stops(stop: Sequence[str] | str | None) -> list[str]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if any(not isinstance(s, str) or not s for s in stops):
        raise ConfigError(f"stop sequences must be non-empty strings, got {stops!r}")
    return stops

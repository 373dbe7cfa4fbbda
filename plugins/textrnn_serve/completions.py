"""Generation endpoints: OpenAI's ``/v1/completions`` and text-generation-inference's
``/generate`` and ``/generate_stream``, all served by the model's continuous-batching generator."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import AsyncIterator

from .errors import APIError, field, strings
from .models import ServedModel, pick

MAX_STOPS = 4  # as OpenAI's API


@dataclass
class Generation:
    """One validated generation request: ``n`` samples for each prompt."""

    model: ServedModel
    prompts: list[str]
    n: int
    max_tokens: int
    options: object  # textrnn.sampling.SamplingOptions
    seed: int | None
    stop: list[str]
    stream: bool = False


def _options(**kwargs):
    from textrnn.sampling import SamplingOptions

    return SamplingOptions(**kwargs)


def openai_request(data: dict, models: dict, limits) -> Generation:
    """Parameters of ``POST /v1/completions``; temperature 0 means greedy, as in OpenAI's API."""
    model = pick(models, data.get("model"), "lm")
    prompts = strings(data, "prompt", limit=limits.max_n) or [""]
    n = field(data, "n", "integer", 1, minimum=1, maximum=limits.max_n)
    if n * len(prompts) > limits.max_n:
        raise APIError(422, f"prompts x n must be at most {limits.max_n}, got {n * len(prompts)}", param="n")
    temperature = field(data, "temperature", "number", 1.0, minimum=0, maximum=2)
    top_p = field(data, "top_p", "number", None, minimum=0, maximum=1, exclusive_minimum=True)
    return Generation(
        model, prompts, n,
        max_tokens=field(data, "max_tokens", "integer", 16, minimum=0, maximum=limits.max_tokens),
        options=_options(temperature=temperature or 1.0, top_p=top_p, greedy=temperature == 0),
        seed=field(data, "seed", "integer"), stop=strings(data, "stop", limit=MAX_STOPS) or [],
        stream=field(data, "stream", "boolean", False))


def tgi_request(data: dict, models: dict, limits) -> Generation:
    """Parameters of ``POST /generate``: ``{"inputs": ..., "parameters": {...}}`` (plus ``model``).

    As in text-generation-inference, decoding is greedy unless ``do_sample`` is true or a
    temperature, top-k or top-p is given.
    """
    model = pick(models, data.get("model"), "lm")
    inputs = field(data, "inputs", "string")
    if inputs is None:
        raise APIError(422, "inputs (the prompt) is required", param="inputs")
    params = field(data, "parameters", "object", {})
    temperature = field(params, "temperature", "number", None, minimum=0, exclusive_minimum=True, maximum=100)
    top_k = field(params, "top_k", "integer", None, minimum=1)
    top_p = field(params, "top_p", "number", None, minimum=0, maximum=1, exclusive_minimum=True)
    sample = field(params, "do_sample", "boolean", False) or any(v is not None for v in (temperature, top_k, top_p))
    options = _options(temperature=temperature or 1.0, top_k=top_k, top_p=top_p, greedy=not sample,
                       repetition_penalty=field(params, "repetition_penalty", "number", 1.0, minimum=0,
                                                exclusive_minimum=True, maximum=100))
    return Generation(model, [inputs], 1,
                      max_tokens=field(params, "max_new_tokens", "integer", 20, minimum=0, maximum=limits.max_tokens),
                      options=options, seed=field(params, "seed", "integer"),
                      stop=strings(params, "stop", limit=MAX_STOPS, allow_single=False) or [])


class Submitted:
    """``gen``'s requests, queued on its model's generator; ``events()`` follows them.

    Submitting checks the prompts at once (a ConfigError, such as a prompt the vocabulary
    cannot encode, becomes a 422 before any streamed response starts).
    """

    def __init__(self, gen: Generation, live: bool):
        from textrnn.batching import GenerationRequest

        loop = asyncio.get_running_loop()
        self.gen = gen
        self.queue: asyncio.Queue = asyncio.Queue()
        self.requests = []
        for i, prompt in enumerate(gen.prompts):
            offset = i * gen.n

            def on_text(index, piece, offset=offset):  # called on the generator's thread
                loop.call_soon_threadsafe(self.queue.put_nowait, ("text", offset + index, piece))

            def on_done(result, offset=offset):
                loop.call_soon_threadsafe(self.queue.put_nowait, ("done", offset, result))

            request = GenerationRequest(prompt, gen.max_tokens, gen.options, gen.n, gen.seed, list(gen.stop),
                                        on_text if live else None, on_done)
            try:
                gen.model.generator.submit(request)
            except BaseException:
                self.cancel()
                raise
            self.requests.append(request)
        self.live = live

    def cancel(self) -> None:
        for request in self.requests:  # their rows leave the batch before the next step
            request.cancel()

    async def events(self, http_request, timeout: float, metrics) -> AsyncIterator[tuple]:
        """Yield ``("text", index, piece)`` (when live) and ``("done", index, result)``.

        Sample ``j`` of prompt ``i`` has index ``i * n + j``. A request that waits ``timeout``
        seconds for its next event is cancelled (504); so is one whose client has gone away.
        """
        start, first, remaining, name = time.perf_counter(), True, len(self.requests), self.gen.model.name
        try:
            while remaining:
                try:
                    event = await asyncio.wait_for(self.queue.get(), timeout)
                except asyncio.TimeoutError:
                    raise APIError(504, f"generation stalled for {timeout:g} s and was cancelled",
                                   "timeout_error") from None
                if event[0] == "done":
                    remaining -= 1
                    result = event[2]
                    if result.error is not None:
                        raise APIError(500, f"generation failed: {type(result.error).__name__}", "server_error")
                    metrics.generated(name, result.prompt_tokens, result.completion_tokens)
                elif first:
                    metrics.first_token_after(name, time.perf_counter() - start)
                    first = False
                if self.live and await http_request.is_disconnected():
                    return
                yield event
        finally:
            self.cancel()


async def collect(gen: Generation, http_request, timeout: float, metrics) -> list:
    """Results of every prompt of ``gen``, in prompt order."""
    results = {}
    async for _, index, result in Submitted(gen, live=False).events(http_request, timeout, metrics):
        results[index] = result
    return [results[i * gen.n] for i in range(len(gen.prompts))]


def openai_response(gen: Generation, results: list) -> dict:
    choices, completion = [], 0
    for i, result in enumerate(results):
        completion += result.completion_tokens
        for j, (text, reason) in enumerate(zip(result.texts, result.finish_reasons)):
            choices.append({"text": text, "index": i * gen.n + j, "logprobs": None, "finish_reason": reason})
    prompt = sum(r.prompt_tokens for r in results)
    return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": gen.model.name, "choices": choices,
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}


def sse(data) -> bytes:
    """One server-sent event."""
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


async def openai_stream(submitted: Submitted, http_request, timeout: float, metrics) -> AsyncIterator[bytes]:
    """OpenAI's streaming shape: a chunk per piece of text, a last chunk per sample with its finish reason, [DONE]."""
    head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": submitted.gen.model.name}
    try:
        async for kind, index, payload in submitted.events(http_request, timeout, metrics):
            if kind == "text":
                yield sse({**head, "choices": [{"text": payload, "index": index, "logprobs": None,
                                                "finish_reason": None}]})
                continue
            for j, reason in enumerate(payload.finish_reasons):
                yield sse({**head, "choices": [{"text": "", "index": index + j, "logprobs": None,
                                                "finish_reason": reason}]})
        yield sse("[DONE]")
    except APIError as exc:  # the response has started: the error goes in the stream
        yield sse(exc.body())


def _details(result, seed) -> dict:
    reason = {"stop": "stop_sequence", "length": "length"}[result.finish_reasons[0]]
    return {"finish_reason": reason, "generated_tokens": result.completion_tokens, "seed": seed}


async def tgi_stream(submitted: Submitted, http_request, timeout: float, metrics) -> AsyncIterator[bytes]:
    """text-generation-inference's streaming shape: a token event per piece, the full text in the last."""
    try:
        async for kind, _, payload in submitted.events(http_request, timeout, metrics):
            if kind == "text":
                yield sse({"token": {"text": payload, "special": False}, "generated_text": None, "details": None})
            else:
                yield sse({"token": {"text": "", "special": True}, "generated_text": payload.texts[0],
                           "details": _details(payload, submitted.gen.seed)})
    except APIError as exc:
        yield sse(exc.body())


def tgi_response(gen: Generation, result) -> dict:
    return {"generated_text": result.texts[0], "details": _details(result, gen.seed)}

"""Continuous batching: requests share the batched step and keep their own seeded texts."""

from __future__ import annotations

import threading

import pytest
import torch

from textrnn.batching import BatchGenerator, GenerationRequest
from textrnn.errors import ConfigError
from textrnn.generation import generate
from textrnn.sampling import SamplingOptions
from textrnn_char import CharTokenizer
from textrnn_recurrent import RecurrentLMOptions
from textrnn_recurrent.lm import RecurrentLanguageModel

TEXT = "the cat sat on the mat and the dog ran to it.\n"


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    tokenizer = CharTokenizer.train([TEXT])
    model = RecurrentLanguageModel(tokenizer.vocab_size, RecurrentLMOptions(hidden_size=24, embedding_dim=12,
                                                                          num_layers=2), cell="lstm").eval()
    return model, tokenizer


CASES = [  # prompt, max_tokens, n, seed, options, stop
    ("the", 30, 1, 1, SamplingOptions(), []),
    ("a cat", 45, 2, 2, SamplingOptions(temperature=0.7, top_k=5), []),
    ("", 20, 1, 3, SamplingOptions(top_p=0.8, repetition_penalty=1.3), []),
    ("dog", 25, 1, None, SamplingOptions(greedy=True), []),
    ("the mat", 60, 3, 4, SamplingOptions(), ["t."]),
]


def run_together(model, tokenizer, cases, max_batch=16):
    """Submit every case at once; return (results in case order, the generator)."""
    generator = BatchGenerator(model, tokenizer, max_batch=max_batch)
    results, done = {}, threading.Event()

    def finish(i):
        def on_done(result):
            results[i] = result
            if len(results) == len(cases):
                done.set()
        return on_done

    requests = [GenerationRequest(prompt, tokens, options, n, seed, stop, on_done=finish(i))
                for i, (prompt, tokens, n, seed, options, stop) in enumerate(cases)]
    for request in requests:
        generator.submit(request)
    assert done.wait(60)
    generator.close(10)
    return [results[i] for i in range(len(cases))], generator


def test_requests_in_one_batch_give_their_own_seeded_texts(lm):
    model, tokenizer = lm
    results, generator = run_together(model, tokenizer, CASES)
    for (prompt, tokens, n, seed, options, stop), result in zip(CASES, results):
        want = generate(model, tokenizer, prompt=prompt, max_tokens=tokens, num_samples=n, seed=seed, stop=stop,
                        temperature=options.temperature, top_k=options.top_k, top_p=options.top_p,
                        repetition_penalty=options.repetition_penalty, greedy=options.greedy)
        assert result.texts == want
        assert result.error is None
    # shared steps: the longest request decides how many steps run, not the sum of all of them
    assert generator.steps <= 60 + 2  # admissions may land a step apart
    assert generator.rows_stepped > 2 * generator.steps
    assert results[0].finish_reasons == ["length"] and results[0].completion_tokens == 30


def test_rows_wait_for_room_when_the_batch_is_full(lm):
    model, tokenizer = lm
    cases = [("the", 15, 2, seed, SamplingOptions(), []) for seed in range(4)]
    results, generator = run_together(model, tokenizer, cases, max_batch=3)  # one request of 2 rows at a time
    for (prompt, tokens, n, seed, _, _), result in zip(cases, results):
        assert result.texts == generate(model, tokenizer, prompt=prompt, max_tokens=tokens, num_samples=n, seed=seed)
    assert generator.steps >= 2 * 15  # two at a time could not all share steps


def test_cancelled_request_leaves_the_batch(lm):
    model, tokenizer = lm
    generator = BatchGenerator(model, tokenizer)
    first, finished = threading.Event(), threading.Event()
    out = {}
    request = GenerationRequest("the", 100_000, on_text=lambda i, p: first.set(),
                                on_done=lambda r: (out.setdefault("r", r), finished.set()))
    generator.submit(request)
    assert first.wait(30)
    request.cancel()
    assert finished.wait(30)
    assert out["r"].completion_tokens < 100_000 and generator.active_rows == 0
    generator.close(10)


def test_invalid_requests_fail_at_submit(lm):
    model, tokenizer = lm
    generator = BatchGenerator(model, tokenizer, max_batch=4)
    with pytest.raises(ConfigError, match="n must be at most the batch size 4"):
        generator.submit(GenerationRequest("the", 5, n=5))
    with pytest.raises(ConfigError, match="max_tokens"):
        generator.submit(GenerationRequest("the", -1))
    with pytest.raises(ConfigError, match="outside the model's vocabulary"):
        generator.submit(GenerationRequest("\u4e2d\u6587", 5))
    generator.close(10)

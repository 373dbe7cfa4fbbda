"""Generation (textrnn.generation, textrnn.sampling): decoding rules, seeds, stops, beams, streaming."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from textrnn import ConfigError
from textrnn.generation import beam_search, decodes_per_token, generate
from textrnn.inference import make_stepper
from textrnn.sampling import (
    SamplingOptions, UniformStreams, draw, forbidden_bias, keep_top_k, keep_top_p, penalize_repetition,
)
from textrnn.tokenizers import Tokenizer
from textrnn_char import CharTokenizer
from textrnn_recurrent import RecurrentLMOptions
from textrnn_recurrent.lm import RecurrentLanguageModel

TEXT = "the quick brown fox jumps over the lazy dog.\nTHE END, or is it? yes!\n"


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer.train([TEXT])


def lm(tok, cell="lstm", seed=0, layers=2):
    torch.manual_seed(seed)
    options = RecurrentLMOptions(embedding_dim=16, hidden_size=32, num_layers=layers)
    model = RecurrentLanguageModel(tok.vocab_size, options, cell=cell).eval()
    with torch.no_grad():  # random weights large enough to give peaked, varied distributions
        for p in model.parameters():
            p.mul_(4.0)
    return model


class Wrapped(nn.Module):
    """Stands for another LM plugin: same contract, so generation takes the generic path."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, ids, state=None):
        return self.inner(ids, state)


def log_prob(model, tok, context: list[int], continuation: list[int]) -> float:
    """Total log-probability of ``continuation`` after ``context``, unknown ids masked as in generation."""
    ids = torch.tensor([context + continuation])
    with torch.no_grad():
        logits, _ = model(ids)
    logits = logits[0, len(context) - 1 : -1] + forbidden_bias(tok.vocab_size, tok.unknown_ids())
    return logits.log_softmax(-1).gather(1, torch.tensor(continuation)[:, None]).sum().item()


# -- sampling functions --------------------------------------------------------------------


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([[2.0, -2.0, 1.0, -1.0]])
    seen = torch.tensor([[True, True, False, False]])
    assert penalize_repetition(logits, seen, 2.0).tolist() == [[1.0, -4.0, 1.0, -1.0]]


def test_top_k_and_top_p_keep_the_likeliest_tokens():
    logits = torch.log(torch.tensor([[0.5, 0.05, 0.3, 0.15]]))
    assert torch.isfinite(keep_top_k(logits, 2)).tolist() == [[True, False, True, False]]
    assert torch.isfinite(keep_top_p(logits, 0.8)).tolist() == [[True, False, True, False]]
    assert torch.isfinite(keep_top_p(logits, 0.81)).tolist() == [[True, False, True, True]]
    assert torch.isfinite(keep_top_p(logits, 0.01)).tolist() == [[True, False, False, False]]


def test_draw_follows_the_cdf_and_never_picks_a_forbidden_token():
    logits = torch.log(torch.tensor([0.0, 0.25, 0.0, 0.75, 0.0])).expand(4, -1)
    uniforms = torch.tensor([0.0, 0.2499, 0.2501, 1 - 2**-24])
    assert draw(logits, uniforms).tolist() == [1, 1, 3, 3]
    # the largest uniform, against many distributions whose last tokens are forbidden
    logits = torch.randn(2000, 9, generator=torch.Generator().manual_seed(0)) * 10
    logits[:, -3:] = -math.inf
    picked = draw(logits, torch.full((2000,), 1 - 2**-24))
    assert picked.max() < 6 and torch.isfinite(logits.gather(1, picked[:, None])).all()


def test_uniform_streams_do_not_depend_on_the_batch():
    together = torch.stack([UniformStreams(7, [0, 1, 2]).next() for _ in range(1)])
    streams = UniformStreams(7, [0, 1, 2])
    rows = torch.stack([streams.next() for _ in range(70)], 1)  # crosses a chunk boundary
    for i in range(3):
        alone = UniformStreams(7, [i])
        assert torch.equal(torch.stack([alone.next() for _ in range(70)], 1)[0], rows[i])
    assert torch.equal(together[0], rows[:, 0])
    assert not torch.equal(rows[0], rows[1])


@pytest.mark.parametrize("options, message", [
    (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"), (dict(top_p=-0.1), "top_p"),
    (dict(temperature=0.0), "temperature"), (dict(temperature=-1.0), "temperature"),
    (dict(temperature=math.nan), "temperature"), (dict(top_k=0), "top_k"), (dict(top_k=2.5), "top_k"),
    (dict(repetition_penalty=0.0), "repetition_penalty"), (dict(repetition_penalty=-1.0), "repetition_penalty"),
    (dict(max_tokens=-1), "max_tokens"), (dict(max_tokens=2.5), "max_tokens"), (dict(top_k=True), "top_k"),
    (dict(num_samples=0), "num_samples"), (dict(beam_size=0), "beam_size"),
    (dict(beam_size=3, num_samples=2), "beam"), (dict(stop=[""]), "stop"),
])
def test_invalid_options_are_config_errors(tok, options, message):
    with pytest.raises(ConfigError, match=message):
        generate(lm(tok), tok, prompt="the", **{"max_tokens": 5, **options})


def test_temperature_zero_is_fine_when_greedy(tok):
    assert SamplingOptions(temperature=0.0, greedy=True).greedy
    assert generate(lm(tok), tok, prompt="the", max_tokens=5, greedy=True, temperature=0.0)[0]


# -- generation ----------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_greedy_text_is_the_same_on_fused_and_generic_paths(tok, cell):
    model = lm(tok, cell)
    fused = generate(model, tok, prompt="the ", max_tokens=60, greedy=True)
    generic = generate(Wrapped(model), tok, prompt="the ", max_tokens=60, greedy=True)
    assert fused == generic and len(fused[0]) == 60
    assert len(set(fused[0])) > 3  # not a degenerate repeat of one character


def test_seed_gives_the_same_samples_in_one_batch_or_one_at_a_time(tok):
    model = lm(tok, "gru")
    batch = generate(model, tok, prompt="the", max_tokens=80, num_samples=4, seed=11)
    assert len(set(batch)) == 4  # the samples differ from each other
    for i in range(4):  # sample i computed in batches of 1, 2, 3, 4 rows
        assert generate(model, tok, prompt="the", max_tokens=80, num_samples=i + 1, seed=11)[i] == batch[i]
    assert generate(model, tok, prompt="the", max_tokens=80, num_samples=4, seed=11) == batch
    assert generate(model, tok, prompt="the", max_tokens=80, num_samples=4, seed=12) != batch


def test_seed_samples_match_on_the_generic_path(tok):
    model = lm(tok)
    assert (generate(model, tok, prompt="a", max_tokens=50, num_samples=3, seed=5, top_p=0.9)
            == generate(Wrapped(model), tok, prompt="a", max_tokens=50, num_samples=3, seed=5, top_p=0.9))


def test_top_k_1_equals_greedy(tok):
    model = lm(tok)
    greedy = generate(model, tok, prompt="the ", max_tokens=60, greedy=True)[0]
    assert generate(model, tok, prompt="the ", max_tokens=60, top_k=1, num_samples=3, seed=1) == [greedy] * 3


def test_temperature_and_repetition_penalty_change_the_text(tok):
    model = lm(tok)
    base = generate(model, tok, prompt="the", max_tokens=80, seed=3)[0]
    assert generate(model, tok, prompt="the", max_tokens=80, seed=3, temperature=0.5)[0] != base
    greedy = generate(model, tok, prompt="the", max_tokens=80, greedy=True)[0]
    penalized = generate(model, tok, prompt="the", max_tokens=80, greedy=True, repetition_penalty=50.0)[0]
    assert len(set(penalized)) > len(set(greedy))  # repeats are pushed down: more distinct characters


def test_stop_sequences_cut_each_sample_at_the_first_match(tok):
    model = lm(tok)
    full = generate(model, tok, prompt="the", max_tokens=120, num_samples=4, seed=2)
    stop = full[0][30:32]
    stopped = generate(model, tok, prompt="the", max_tokens=120, num_samples=4, seed=2, stop=[stop, "\x00never"])
    for whole, cut in zip(full, stopped):
        assert cut == (whole[: whole.index(stop)] if stop in whole else whole)
    assert len(stopped[0]) <= 30


def test_beam_size_1_equals_greedy_and_wider_beams_score_at_least_as_well(tok):
    model = lm(tok, "gru")
    context = tok.encode("the ")
    bias = forbidden_bias(tok.vocab_size, tok.unknown_ids())

    def beam(size):
        stepper = make_stepper(model)
        return beam_search(stepper, stepper.prime(torch.tensor([context])), size, 40, bias)

    greedy_text = generate(model, tok, prompt="the ", max_tokens=40, greedy=True)[0]
    greedy_ids = tok.encode(greedy_text)
    assert beam(1) == greedy_ids
    wide = beam(6)
    assert log_prob(model, tok, context, wide) >= log_prob(model, tok, context, greedy_ids) - 1e-4
    assert generate(model, tok, prompt="the ", max_tokens=40, beam_size=6) == [tok.decode(wide)]


def test_a_prompt_of_unknown_characters_only_is_an_error(tok):
    with pytest.raises(ConfigError, match="outside the model's vocabulary"):
        generate(lm(tok), tok, prompt="€€☃", max_tokens=5)
    assert generate(lm(tok), tok, prompt="€ the", max_tokens=5, seed=0)[0]  # some known text is enough


def test_empty_prompt_starts_from_newline_and_unknown_ids_are_never_generated(tok):
    model = lm(tok)
    with torch.no_grad():
        model.decoder.bias[0] = 100.0  # the model now "prefers" <unk>
    assert generate(model, tok, max_tokens=30, greedy=True) == generate(model, tok, prompt="\n", max_tokens=30,
                                                                        greedy=True)
    texts = generate(model, tok, max_tokens=100, num_samples=3, seed=0) + generate(model, tok, max_tokens=20,
                                                                                  beam_size=3)
    assert all("\ufffd" not in text and text for text in texts)


def test_max_tokens_zero_and_training_mode_restored(tok):
    model = lm(tok).train()
    assert generate(model, tok, prompt="the", max_tokens=0, num_samples=2) == ["", ""]
    assert len(generate(model, tok, prompt="the", max_tokens=7)[0]) == 7
    assert model.training


def test_streamed_pieces_concatenate_to_the_returned_text(tok):
    model = lm(tok)
    for options in (dict(num_samples=3, seed=4), dict(num_samples=3, seed=4, stop=["e", "o "]), dict(beam_size=3),
                    dict(beam_size=3, stop=["the"])):
        pieces: dict[int, list[str]] = {}
        texts = generate(model, tok, prompt="the", max_tokens=50,
                         on_text=lambda i, piece: pieces.setdefault(i, []).append(piece), **options)
        assert ["".join(pieces.get(i, [])) for i in range(len(texts))] == texts
        if "stop" not in options:
            assert texts == generate(model, tok, prompt="the", max_tokens=50, **options)


class ByteTokenizer(Tokenizer):
    """UTF-8 bytes as ids: decoding a lone byte of a multi-byte character gives U+FFFD."""

    type_name = "bytes-for-test"

    @classmethod
    def train(cls, texts, **options):
        return cls()

    @property
    def vocab_size(self):
        return 256

    def encode(self, text):
        return list(text.encode("utf-8"))

    def decode(self, ids):
        return bytes(ids).decode("utf-8", "replace")

    @property
    def newline_id(self):
        return 10

    def to_meta(self):
        return {}

    @classmethod
    def from_meta(cls, meta, directory: Path):
        return cls()


class ScriptedLM(nn.Module):
    """Predicts a fixed byte script whatever the input; the state counts script bytes fed, (1, B, 1)."""

    def __init__(self, script: bytes):
        super().__init__()
        self.register_buffer("script", torch.tensor(list(script)))
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, ids, state=None):
        batch, length = ids.shape
        if state is None:  # a prompt: predict the script's first byte
            positions = torch.zeros(batch, length, dtype=torch.long)
            consumed = torch.zeros(1, batch, 1, dtype=torch.long)
        else:  # ids are script bytes; predict the ones after them
            positions = state[0][0] + 1 + torch.arange(length)  # (B, T)
            consumed = state[0] + length
        logits = torch.full((batch, length, 256), -10.0)
        logits.scatter_(2, self.script[positions.clamp_max(len(self.script) - 1)][..., None], 10.0)
        return logits, (consumed,)


def test_streaming_a_contextual_tokenizer_never_splits_a_character():
    text = "héllo wörld ✓ 😀!\n"
    tokenizer = ByteTokenizer()
    assert not decodes_per_token(tokenizer) and decodes_per_token(CharTokenizer.train(["ab"]))
    pieces: list[str] = []
    out = generate(ScriptedLM(text.encode()), tokenizer, prompt="", max_tokens=len(text.encode()), greedy=True,
                   on_text=lambda i, piece: pieces.append(piece), stop=["✓ 😀?"])
    assert out == [text] and "".join(pieces) == text
    assert all("\ufffd" not in piece for piece in pieces) and len(pieces) > 5
    assert generate(ScriptedLM(text.encode()), tokenizer, max_tokens=len(text.encode()), greedy=True,
                    stop=["😀"]) == ["héllo wörld ✓ "]


def test_block_sampling_path_gives_the_token_by_token_text(tok, monkeypatch):
    """The loop that a CUDA graph stepper drives 16 tokens at a time (here emulated eagerly on
    the CPU) must consume the same uniforms in the same order as the token-by-token loop."""
    from textrnn import generation

    class BlockStepper:
        def __init__(self, inner):
            self.inner, self.blocks = inner, 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def sample_steps(self, ids, steps, uniforms, choose, mutable=()):
            out = []
            for k in range(steps):
                ids = choose(self.inner.step(ids), uniforms[:, k] if uniforms is not None else None)
                out.append(ids)
            self.blocks += 1
            return torch.stack(out, 1)  # (B, K)

    model = lm(tok, "gru")
    common = dict(prompt="the", max_tokens=75, num_samples=3, seed=3, top_k=20, repetition_penalty=1.2)
    plain = generate(model, tok, **common)
    plain_greedy = generate(model, tok, prompt="the", max_tokens=40, greedy=True)
    made = []
    monkeypatch.setattr(generation, "make_stepper", lambda m, d: made.append(BlockStepper(make_stepper(m, d)))
                        or made[-1])
    assert generate(model, tok, **common) == plain
    assert made[0].blocks == (75 - 1) // generation.GRAPH_STEPS
    assert generate(model, tok, prompt="the", max_tokens=40, greedy=True) == plain_greedy
    assert made[1].blocks == (40 - 1) // generation.GRAPH_STEPS

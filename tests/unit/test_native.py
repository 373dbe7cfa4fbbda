"""The compiled CPU step (textrnn.native, native_step.c) against the module's forward and
against the PyTorch step's sampling."""

from __future__ import annotations

import os
import time

import pytest
import torch
from torch import nn

from textrnn import generation, inference, native
from textrnn.generation import generate
from textrnn.inference import FusedRecurrentStepper, NativeRecurrentStepper, make_stepper
from textrnn_char import CharTokenizer
from textrnn_recurrent import RecurrentLMOptions
from textrnn_recurrent.lm import RecurrentLanguageModel

from tests.conftest import under_ci

from .test_inference import VOCAB, build, forward_logits, stepped_logits


@pytest.fixture(autouse=True)
def _compiled():
    if native.library() is None:
        reason = f"the compiled step is unavailable here: {native.unavailable_reason()}"
        # CI has a C compiler (.ci/run installs gcc when it is missing): a skip there would hide a broken build.
        if under_ci() and os.environ.get("TEXTRNN_NATIVE", "1") != "0":
            pytest.fail(reason)
        pytest.skip(reason)


def check_against_forward(model, ids, prompt_len):
    stepper = make_stepper(model)
    assert isinstance(stepper, NativeRecurrentStepper)
    got = stepped_logits(stepper, ids, prompt_len)
    torch.testing.assert_close(got, forward_logits(model, ids, prompt_len), rtol=0, atol=1e-5)
    with torch.no_grad():
        _, state = model(ids)
    for carried, final in zip(stepper.state, state):
        torch.testing.assert_close(carried, final, rtol=0, atol=1e-5)


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_compiled_step_matches_forward(cell, layers):
    model = build(cell, layers)
    with torch.no_grad():  # larger weights: saturated gates and tanh far from 0 get tested too
        for p in model.rnn.parameters():
            p.mul_(3.0)
    check_against_forward(model, torch.randint(1, VOCAB, (1, 40), generator=torch.Generator().manual_seed(1)), 6)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_compiled_step_without_lookup_table_and_with_tied_weights(cell, monkeypatch):
    monkeypatch.setattr(inference, "TABLE_MAX_ELEMENTS", 0)  # as for a large subword vocabulary
    model = build(cell, 2, hidden=32, embedding=32, tie=True)
    check_against_forward(model, torch.randint(1, VOCAB, (1, 12), generator=torch.Generator().manual_seed(2)), 4)


def test_compiled_relu_rnn_step_matches_forward():
    model = build("rnn", 2)
    model.rnn = nn.RNN(20, 48, num_layers=2, nonlinearity="relu", batch_first=True)
    check_against_forward(model, torch.randint(1, VOCAB, (1, 10), generator=torch.Generator().manual_seed(3)), 3)


def test_batches_of_several_rows_take_the_pytorch_step_and_one_row_the_compiled_one():
    model = build("gru", 2)
    ids = torch.randint(1, VOCAB, (3, 12), generator=torch.Generator().manual_seed(4))
    stepper = make_stepper(model)
    stepper.prime(ids[:, :4])
    got = [stepper.step(ids[:, t]).clone() for t in range(4, 8)]  # 3 rows
    stepper.reorder(torch.tensor([1]))  # one row left: the compiled step takes over
    got_one = [stepper.step(ids[1:2, t]).clone() for t in range(8, 12)]
    want = forward_logits(model, ids, 4)
    torch.testing.assert_close(torch.stack(got, 1), want[:, 1:5], rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.stack(got_one, 1), want[1:2, 5:], rtol=0, atol=1e-5)


def test_a_token_outside_the_vocabulary_is_an_index_error_not_a_stray_read():
    stepper = make_stepper(build("gru", 1))
    stepper.prime(torch.tensor([[1, 2]]))
    before = stepper.state[0].clone()
    for bad in (VOCAB, -1):
        with pytest.raises(IndexError, match="outside the vocabulary"):
            stepper.step(torch.tensor([bad]))
    torch.testing.assert_close(stepper.state[0], before, rtol=0, atol=0)


TEXT = "the quick brown fox jumps over the lazy dog.\nTHE END, or is it? yes!\n"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("settings", [
    dict(greedy=True), dict(seed=3), dict(seed=4, temperature=0.7), dict(seed=5, stop=["zz"]),
    dict(seed=6, temperature=1.3, stop=["\n\n"]), dict(seed=7, top_k=5), dict(seed=8, top_p=0.8),
    dict(seed=9, repetition_penalty=1.3), dict(seed=10, top_k=12, top_p=0.9, temperature=0.8, repetition_penalty=1.2),
    dict(greedy=True, repetition_penalty=1.5), dict(seed=11, top_k=1000, top_p=1.0, stop=["."])])
def test_compiled_sampling_gives_the_pytorch_step_text(cell, settings, monkeypatch):
    """Same options, same seed: the compiled step chooses the tokens the PyTorch step does,
    in blocks (no stop sequences) and one token per call (stop sequences, streaming)."""
    tok = CharTokenizer.train([TEXT])
    torch.manual_seed(0)
    options = RecurrentLMOptions(embedding_dim=16, hidden_size=32, num_layers=2)
    model = RecurrentLanguageModel(tok.vocab_size, options, cell=cell).eval()
    with torch.no_grad():  # peaked, varied distributions
        for p in model.parameters():
            p.mul_(4.0)
    made = []
    monkeypatch.setattr(generation, "make_stepper", lambda m, d: made.append(make_stepper(m, d)) or made[-1])
    compiled = generate(model, tok, prompt="the", max_tokens=300, **settings)
    monkeypatch.setattr(generation, "make_stepper", lambda m, d: make_stepper(m, d, native=False))
    plain = generate(model, tok, prompt="the", max_tokens=300, **settings)
    assert isinstance(made[0], NativeRecurrentStepper)
    assert compiled == plain
    assert "<unk>" not in compiled[0]
    if not settings.get("greedy"):
        assert len(set(compiled[0])) > 5  # sampled text, not a degenerate repeat


def test_without_a_compiler_the_pytorch_step_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("TEXTRNN_NATIVE_DIR", str(tmp_path / "native"))
    native.library.cache_clear()
    try:
        assert native.library() is None
        assert "no-such-compiler" in native.unavailable_reason()
        stepper = make_stepper(build("lstm", 1))
        assert type(stepper) is FusedRecurrentStepper
    finally:
        native.library.cache_clear()


def test_a_compile_killed_long_ago_leaves_no_temporary_behind(monkeypatch, tmp_path):
    folder = tmp_path / "native"
    folder.mkdir()
    old, fresh = folder / ".tmp-old.so", folder / ".tmp-fresh.so"
    old.write_bytes(b"half a library")
    fresh.write_bytes(b"a compile still running")
    long_ago = time.time() - 3 * native.COMPILE_TIMEOUT_S
    os.utime(old, (long_ago, long_ago))
    monkeypatch.setenv("TEXTRNN_NATIVE_DIR", str(folder))
    native.library.cache_clear()
    try:
        assert native.library() is not None
    finally:
        native.library.cache_clear()
    assert not old.exists() and fresh.exists()
    assert list(folder.glob("native_step-*.so"))


def test_textrnn_native_0_turns_it_off(monkeypatch):
    monkeypatch.setenv("TEXTRNN_NATIVE", "0")
    native.library.cache_clear()
    try:
        assert native.library() is None and native.unavailable_reason() == "TEXTRNN_NATIVE=0"
    finally:
        native.library.cache_clear()

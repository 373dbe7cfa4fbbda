"""One-token steppers (textrnn.inference): the fused step against the module's own forward."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn

from textrnn import inference
from textrnn.inference import CudaGraphStepper, FusedRecurrentStepper, ModuleStepper, make_stepper
from textrnn_recurrent import RecurrentLMOptions
from textrnn_recurrent.lm import RecurrentLanguageModel

VOCAB = 23


def build(cell: str, layers: int, *, hidden: int = 48, embedding: int = 20, tie: bool = False, seed: int = 0):
    torch.manual_seed(seed)
    options = RecurrentLMOptions(embedding_dim=embedding, hidden_size=hidden, num_layers=layers, tie_weights=tie,
                                 dropout=0.3 if layers > 1 else 0.0, embedding_dropout=0.2, output_dropout=0.2)
    model = RecurrentLanguageModel(VOCAB, options, cell=cell).eval()
    with torch.no_grad():
        model.decoder.bias.normal_()  # zero at init: make the test see it
    return model


def stepped_logits(stepper, ids: torch.Tensor, prompt_len: int) -> torch.Tensor:
    """Prime on ids[:, :prompt_len], then step through the rest; logits (B, T - prompt_len + 1, V)."""
    out = [stepper.prime(ids[:, :prompt_len]).clone()]
    for t in range(prompt_len, ids.shape[1]):
        out.append(stepper.step(ids[:, t]).clone())
    return torch.stack(out, dim=1)


def forward_logits(model, ids: torch.Tensor, prompt_len: int) -> torch.Tensor:
    with torch.no_grad():
        logits, _ = model(ids)
    return logits[:, prompt_len - 1 :]


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_fused_step_matches_forward(cell, layers, batch):
    model = build(cell, layers)
    ids = torch.randint(1, VOCAB, (batch, 17), generator=torch.Generator().manual_seed(1))
    stepper = make_stepper(model)
    assert isinstance(stepper, FusedRecurrentStepper)
    got = stepped_logits(stepper, ids, prompt_len=6)
    want = forward_logits(model, ids, prompt_len=6)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    # the carried state is the module's final state too
    with torch.no_grad():
        _, state = model(ids)
    for carried, final in zip(stepper.state, state):
        torch.testing.assert_close(carried, final, rtol=0, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_fused_step_without_lookup_table_and_with_tied_weights(cell, monkeypatch):
    monkeypatch.setattr(inference, "TABLE_MAX_ELEMENTS", 0)  # as for a large subword vocabulary
    model = build(cell, 2, hidden=32, embedding=32, tie=True)
    stepper = make_stepper(model)
    assert stepper.table is None
    ids = torch.randint(1, VOCAB, (3, 12), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(stepped_logits(stepper, ids, 4), forward_logits(model, ids, 4), rtol=0, atol=1e-5)


def test_relu_rnn_step_matches_forward():
    model = build("rnn", 2)
    model.rnn = nn.RNN(20, 48, num_layers=2, nonlinearity="relu", batch_first=True)
    ids = torch.randint(1, VOCAB, (2, 10), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(stepped_logits(make_stepper(model), ids, 3), forward_logits(model, ids, 3),
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_reorder_selects_and_repeats_rows(cell, fused):
    model = build(cell, 2)
    ids = torch.randint(1, VOCAB, (3, 9), generator=torch.Generator().manual_seed(4))
    stepper = make_stepper(model, fused=fused)
    stepper.prime(ids[:, :5])
    index = torch.tensor([2, 0, 0, 1])
    stepper.reorder(index)  # batch 3 -> 4: buffers are reallocated
    got = [stepper.step(ids[index, t]).clone() for t in range(5, 9)]
    torch.testing.assert_close(torch.stack(got, 1), forward_logits(model, ids[index], 5)[:, 1:], rtol=0, atol=1e-5)
    stepper.reorder(torch.tensor([3, 2, 1, 0]))  # same batch size: copied into the same buffers
    with torch.no_grad():
        _, state = model(ids[index])
    for carried, final in zip(stepper.state, state):
        torch.testing.assert_close(carried, final[:, [3, 2, 1, 0]], rtol=0, atol=1e-5)


class Wrapped(nn.Module):
    """Some other LM plugin: same forward contract, not a RecurrentLanguageModel."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, ids, state=None):
        return self.inner(ids, state)


def test_other_models_get_the_generic_stepper():
    model = build("lstm", 2)
    assert isinstance(make_stepper(Wrapped(model)), ModuleStepper)
    assert isinstance(make_stepper(model, fused=False), ModuleStepper)

    class Subclass(RecurrentLanguageModel):  # may override forward: not trusted with the fused step
        pass

    sub = Subclass(VOCAB, RecurrentLMOptions(embedding_dim=8, hidden_size=8, num_layers=1), cell="gru")
    assert isinstance(make_stepper(sub), ModuleStepper)


def test_generic_stepper_matches_forward():
    model = build("gru", 2)
    ids = torch.randint(1, VOCAB, (2, 8), generator=torch.Generator().manual_seed(5))
    stepper = make_stepper(Wrapped(model))
    torch.testing.assert_close(stepped_logits(stepper, ids, 3), forward_logits(model, ids, 3), rtol=0, atol=1e-6)


def test_steps_work_outside_inference_mode_and_need_no_grad():
    model = build("lstm", 1)
    stepper = make_stepper(model)
    logits = stepper.prime(torch.tensor([[1, 2]]))
    logits = stepper.step(torch.tensor([3]))
    assert not logits.requires_grad


class _FakeStream:
    def __init__(self, *args, **kwargs):
        pass

    def wait_stream(self, other):
        pass


@pytest.fixture
def fake_cuda_streams(monkeypatch):
    """Make the capture code's stream calls no-ops so its CPU-visible logic can run here."""
    monkeypatch.setattr(torch.cuda, "Stream", _FakeStream)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda *args, **kwargs: _FakeStream())
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())


def test_graph_stepper_falls_back_when_capture_fails(fake_cuda_streams, monkeypatch):
    def no_graphs():
        raise RuntimeError("no graphs here")

    monkeypatch.setattr(torch.cuda, "CUDAGraph", no_graphs)  # fails after the warm-up steps ran
    model = build("lstm", 2)
    stepper = CudaGraphStepper(FusedRecurrentStepper(model))
    ids = torch.randint(1, VOCAB, (2, 10), generator=torch.Generator().manual_seed(6))
    with pytest.warns(RuntimeWarning, match="CUDA graph capture failed"):
        got = stepped_logits(stepper, ids, 4)
    assert not stepper.enabled
    torch.testing.assert_close(got, forward_logits(model, ids, 4), rtol=0, atol=1e-5)  # warm-up was undone


def test_graph_stepper_plumbing_with_a_replaying_fake_graph(fake_cuda_streams, monkeypatch):
    """A fake graph whose replay reruns the step on the static buffers, as a real replay would."""
    captures = []

    class FakeGraph:
        def __init__(self):
            captures.append(self)

        def replay(self):
            stepper._static_logits.copy_(stepper.inner.step(stepper._static_ids))

    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", lambda graph: contextlib.nullcontext())
    model = build("gru", 2)
    stepper = CudaGraphStepper(FusedRecurrentStepper(model))
    ids = torch.randint(1, VOCAB, (3, 10), generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(stepped_logits(stepper, ids, 4), forward_logits(model, ids, 4), rtol=0, atol=1e-5)
    assert stepper.enabled and len(captures) == 1
    stepper.reorder(torch.tensor([2, 1, 0]))  # same batch size: the captured graph stays valid
    stepper.step(ids[[2, 1, 0], 0])
    assert len(captures) == 1
    stepper.reorder(torch.tensor([0, 0]))  # new batch size: captured again
    stepper.step(ids[:2, 0])
    assert len(captures) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_cuda_graph_step_matches_forward(cell):
    model = build(cell, 2).cuda()
    stepper = make_stepper(model, "cuda")
    assert isinstance(stepper, CudaGraphStepper)
    ids = torch.randint(1, VOCAB, (4, 12), device="cuda")
    got = stepped_logits(stepper, ids, 5)
    assert stepper.enabled, "CUDA graph capture fell back to the uncaptured step"
    torch.testing.assert_close(got, forward_logits(model, ids, 5), rtol=0, atol=1e-4)  # cuDNN vs cuBLAS sums
    stepper.reorder(torch.tensor([1, 1, 0], device="cuda"))  # new batch size: captured again
    assert stepper.step(ids[:3, 0]).shape == (3, VOCAB)


def test_a_failed_graph_capture_falls_back_and_leaves_the_state_as_it_was():
    """Where CUDA graphs cannot be captured (here: no GPU at all), block sampling says so with
    ``None`` and one warning, and the warm-up run leaves no trace in the carried state."""
    torch.manual_seed(0)
    model = RecurrentLanguageModel(20, RecurrentLMOptions(embedding_dim=8, hidden_size=16)).eval()
    stepper = CudaGraphStepper(FusedRecurrentStepper(model))
    stepper.prime(torch.tensor([[1, 2, 3]]))
    before = [t.clone() for t in stepper.state]
    with pytest.warns(RuntimeWarning, match="CUDA graph capture failed"):
        assert stepper.sample_steps(torch.tensor([4]), 4, None, lambda logits, u: logits.argmax(-1)) is None
    assert not stepper.enabled
    assert all(torch.equal(a, b) for a, b in zip(before, stepper.state))
    assert stepper.step(torch.tensor([4])).shape == (1, 20)

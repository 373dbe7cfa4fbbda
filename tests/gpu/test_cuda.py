"""CUDA paths: run on a machine with a GPU (`pytest tests/gpu`); skipped everywhere else.

CI has no GPU, so these run by hand on a lent card (see benchmarks/gpu_suite.sh).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textrnn.data.lm_sampling import Cursor, DeviceSampler, WindowSampler
from textrnn.inference import CudaGraphStepper, ModuleStepper, make_stepper
from textrnn_char import CharTokenizer
from textrnn_recurrent import RecurrentLMOptions
from textrnn_recurrent.lm import RecurrentLanguageModel

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def exact_fp32():
    """TF32 would round matmuls to 10 mantissa bits: compare in true fp32."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def build(cell: str, vocab: int = 40, hidden: int = 96, layers: int = 2):
    torch.manual_seed(0)
    options = RecurrentLMOptions(embedding_dim=32, hidden_size=hidden, num_layers=layers)
    model = RecurrentLanguageModel(vocab, options, cell=cell).to(CUDA).eval()
    with torch.no_grad():
        model.decoder.bias.normal_()
    return model


@pytest.mark.parametrize("sampling", ["fixed", "streams", "random"])
@pytest.mark.parametrize("mode_bytes", [1 << 30, 0], ids=["resident", "pinned"])
def test_device_sampler_delivers_the_samplers_tokens(mode_bytes, sampling):
    tokens = np.arange(50_000, dtype=np.int32) % 97
    sampler = WindowSampler(tokens, sampling, batch_size=8, seq_len=32, seed=0)
    on_gpu = DeviceSampler(sampler, CUDA, resident_max_bytes=mode_bytes)
    assert on_gpu.mode == ("resident" if mode_bytes else "pinned")
    cursor = Cursor()
    for _ in range(sampler.windows_per_epoch + 3):  # across an epoch boundary
        batch, after = on_gpu.next(cursor)
        expected, _ = sampler.next(cursor)
        assert batch.inputs.device.type == "cuda"
        assert torch.equal(batch.inputs.cpu(), expected.inputs) and torch.equal(batch.targets.cpu(), expected.targets)
        cursor = after


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("batch", [1, 5])
def test_cuda_graph_step_matches_forward(cell, batch):
    model = build(cell)
    ids = torch.randint(1, 40, (batch, 20), device=CUDA, generator=torch.Generator(CUDA).manual_seed(1))
    stepper = make_stepper(model, CUDA)
    assert isinstance(stepper, CudaGraphStepper)
    got = [stepper.prime(ids[:, :5]).clone()]
    for t in range(5, ids.shape[1]):
        got.append(stepper.step(ids[:, t]).clone())
    assert stepper.enabled, "the step was not captured as a CUDA graph"
    with torch.no_grad():
        want, _ = model(ids)
    torch.testing.assert_close(torch.stack(got, 1), want[:, 4:], rtol=0, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_greedy_text_is_the_same_on_the_graph_and_generic_paths(cell, monkeypatch):
    from textrnn import generation
    from textrnn.generation import generate

    tokenizer = CharTokenizer.train(["abcdefghij klmnop\n"])
    model = build(cell, vocab=tokenizer.vocab_size)
    common = dict(prompt="abc", max_tokens=60, greedy=True, device=CUDA)
    fast = generate(model, tokenizer, **common)
    monkeypatch.setattr(generation, "make_stepper", lambda m, d: ModuleStepper(m))
    slow = generate(model, tokenizer, **common)
    assert fast == slow


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_trainer_runs_and_resumes_on_cuda(tmp_path, precision):
    from textrnn.training.config import TrainConfig
    from textrnn.training.loop import train as train_run

    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat. " * 2000)
    common = dict(corpus=[str(corpus)], batch_size=16, seq_len=32, device="cuda", precision=precision,
                  eval_every=20, model_options={"hidden_size": 64})
    run = tmp_path / precision
    first = train_run("lm", TrainConfig(max_steps=20, **common), run)
    assert np.isfinite(first["best_valid_loss"])
    resumed = train_run("lm", TrainConfig(max_steps=60, **common), run, resume=True)
    assert resumed["steps"] == 60 and resumed["best_valid_loss"] < first["best_valid_loss"]


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_a_deep_awd_lstm_learns_on_cuda(tmp_path, precision):
    """A 3-layer LSTM with DropConnect must leave the unigram plateau on cuDNN.

    The corpus cycles through 8 letters, so the next letter is certain: unigram loss is
    ln 8 = 2.08 nats, and a model that uses its recurrence falls far below it. (Weight
    dropout once went through ``functional_call``, which re-flattened the module's
    parameters every step; 3-layer runs like this one then sat at unigram loss on an H100.)
    """
    from textrnn.training.config import TrainConfig
    from textrnn.training.loop import train as train_run

    corpus = tmp_path / "c.txt"
    corpus.write_text("abcdefgh" * 20000)
    options = {"hidden_size": 256, "num_layers": 3, "embedding_dim": 64, "dropout": 0.3, "output_dropout": 0.3,
               "weight_dropout": 0.3, "embedding_dropout": 0.1, "variational": True}
    config = TrainConfig(corpus=[str(corpus)], batch_size=64, seq_len=64, device="cuda", precision=precision,
                         lr=3e-3, weight_decay=0.1, max_steps=200, eval_every=200, model_options=options)
    result = train_run("lm", config, tmp_path / "run")
    assert result["best_valid_loss"] < 0.5, result


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sampling_inside_the_graph_gives_the_step_by_step_text(cell, monkeypatch):
    """Same seed, same text: tokens sampled 16 per graph replay (with every sampling option
    that runs on the device) equal those of the fused step called token by token."""
    from textrnn import generation
    from textrnn.generation import generate
    from textrnn.inference import FusedRecurrentStepper

    tokenizer = CharTokenizer.train(["abcdefghij klmnop\n"])
    model = build(cell, vocab=tokenizer.vocab_size)
    captured = []

    def graphed(m, d):
        stepper = make_stepper(m, d)
        captured.append(stepper)
        return stepper

    common = dict(prompt="abc", max_tokens=70, num_samples=3, seed=5, temperature=0.8, top_k=12, top_p=0.95,
                  repetition_penalty=1.3, device=CUDA)
    monkeypatch.setattr(generation, "make_stepper", graphed)
    fast = generate(model, tokenizer, **common)
    assert captured[0].enabled and captured[0]._chunk_key is not None, "sampling was not captured in a graph"
    monkeypatch.setattr(generation, "make_stepper", lambda m, d: FusedRecurrentStepper(m))
    slow = generate(model, tokenizer, **common)
    assert fast == slow and len(set(fast)) == 3


def test_weight_dropout_leaves_the_lstm_parameters_where_cudnn_packed_them():
    """DropConnect must not make the module re-flatten (and re-point) its weights each step."""
    torch.manual_seed(0)
    options = RecurrentLMOptions(embedding_dim=32, hidden_size=32, num_layers=2, weight_dropout=0.5)
    model = RecurrentLanguageModel(20, options).to(CUDA).train()
    pointers = [p.data_ptr() for p in model.rnn.parameters()]
    ids = torch.randint(0, 20, (4, 9), device=CUDA)
    _, state = model(ids)
    logits, _ = model(ids, state)
    logits.sum().backward()
    assert [p.data_ptr() for p in model.rnn.parameters()] == pointers
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.rnn.parameters())

"""minGRU / minLSTM: the parallel scan against the step form, the textrnn contracts, numerics, the CLI."""

from __future__ import annotations

import json
import random

import pytest
import torch
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.inference import ModelStepStepper, make_stepper, step_window
from textrnn.testing import check_classifier, check_language_model, check_model
from textrnn_mingru import MinGRUClassifierOptions, MinRNNOptions, _lm_factory, build_classifier
from textrnn_mingru.classifier import _reverse_within
from textrnn_mingru.scan import CHUNK, log_space_scan

LAYOUTS = [
    {"embedding_dim": 8, "hidden_size": 12, "expansion": 1.5},
    {"embedding_dim": 12, "hidden_size": 12, "num_layers": 3, "residual": False, "tie_weights": True},
    {"embedding_dim": 12, "hidden_size": 12, "mlp_expansion": 0, "dropout": 0.2, "embedding_dropout": 0.1},
]


def build(cell: str, seed: int = 0, vocab_size: int = 23, **options):
    torch.manual_seed(seed)
    return _lm_factory(cell)(vocab_size, MinRNNOptions(**options)).eval()


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("options", LAYOUTS)
def test_model_keeps_the_textrnn_contracts(cell, options):
    check_language_model(_lm_factory(cell), MinRNNOptions(**options), name=cell)


@pytest.mark.parametrize("scan", ["parallel", "sequential"])
@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("options", LAYOUTS)
def test_parallel_scan_equals_the_step_form_over_a_window_and_across_a_carried_state(cell, options, scan):
    model = build(cell, **options, scan=scan)
    ids = torch.randint(0, 23, (2, CHUNK + 44), generator=torch.Generator().manual_seed(3))  # crosses a scan chunk
    cut = 37
    with torch.no_grad():
        head, state = model(ids[:, :cut])
        head_steps, step_state = step_window(model, ids[:, :cut])
        tail, end = model(ids[:, cut:], state)  # the second window starts from the carried state
        tail_steps, end_steps = step_window(model, ids[:, cut:], state)
    torch.testing.assert_close(head, head_steps, atol=1e-4, rtol=0)
    torch.testing.assert_close(state[0], step_state[0], atol=1e-4, rtol=0)
    torch.testing.assert_close(tail, tail_steps, atol=1e-4, rtol=0)
    torch.testing.assert_close(end[0], end_steps[0], atol=1e-4, rtol=0)


def sequential_reference(log_a, log_b, h0):
    """The recurrence itself, in float64, one step at a time."""
    a, b, h = log_a.double().exp(), log_b.double().exp(), h0.double()
    out = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


def test_log_space_scan_stays_accurate_over_4096_steps():
    generator = torch.Generator().manual_seed(0)
    # gate pre-activations of std 3: decays from ~1 (long memory) to ~1e-5 per step
    log_a = -torch.nn.functional.softplus(torch.randn(2, 4096, 8, generator=generator) * 3)
    log_b = torch.randn(2, 4096, 8, generator=generator) * 3
    h0 = torch.rand(2, 8, generator=generator) * 5
    got = log_space_scan(log_a, log_b, h0)
    expected = sequential_reference(log_a, log_b, h0)
    assert torch.isfinite(got).all()
    # the float32 sum log A_t + logcumsumexp(...) costs ~ulp(|log A_t|); chunking bounds |log A_t| (5e-5 measured)
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=0)


@pytest.mark.parametrize("scan", ["parallel", "sequential"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_scan_stays_finite_under_autocast_over_4096_tokens(cell, dtype, scan):
    # CPU autocast takes both dtypes in torch >= 2.4 (Linear, GELU and LayerNorm included)
    model = build(cell, embedding_dim=16, hidden_size=16, scan=scan).train()
    ids = torch.randint(0, 23, (2, 4096), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference, _ = model.eval()(ids)
    model.train()
    with torch.autocast("cpu", dtype=dtype):
        logits, (h,) = model(ids)
    assert h.dtype == torch.float32 and torch.isfinite(h).all() and torch.isfinite(logits).all()
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().flatten(0, 1), ids[:, 1:].flatten())
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    # half-precision matmuls, float32 scan: the logits stay near the float32 model's
    assert (logits.float() - reference).abs().max() < 0.1


def test_generation_steps_with_the_model_step_and_matches_forward():
    model = build("minlstm", embedding_dim=8, hidden_size=12)
    stepper = make_stepper(model)
    assert isinstance(stepper, ModelStepStepper)
    ids = torch.randint(0, 23, (3, 9), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, _ = model(ids)
    got = [stepper.prime(ids[:, :4])]
    buffers = [s.data_ptr() for s in stepper.state]
    for t in range(4, 9):
        got.append(stepper.step(ids[:, t]).clone())
    torch.testing.assert_close(torch.stack(got, dim=1), expected[:, 3:], atol=1e-5, rtol=1e-4)
    assert [s.data_ptr() for s in stepper.state] == buffers  # updated in place, as a CUDA graph replay needs
    stepper.reorder(torch.tensor([2, 2]))  # beam search keeps row 2 twice
    assert stepper.state[0].shape[1] == 2
    torch.testing.assert_close(stepper.state[0][:, 0], stepper.state[0][:, 1])


@pytest.mark.parametrize("options", [{"embedding_dim": 8, "hidden_size": 12},
                                     {"embedding_dim": 8, "hidden_size": 6, "num_layers": 2, "bidirectional": False,
                                      "num_classes": 3}])
def test_classifier_keeps_the_textrnn_contracts(options):
    check_classifier(build_classifier, MinGRUClassifierOptions(**options), name="bimingru")


def test_backward_direction_reads_each_row_reversed_within_its_length():
    x = torch.arange(10.0).view(2, 5, 1)  # (B, T, F)
    got = _reverse_within(x, torch.tensor([5, 3]))
    assert got[0, :, 0].tolist() == [4, 3, 2, 1, 0]
    assert got[1, :3, 0].tolist() == [7, 6, 5]  # the padding (positions 3, 4) never comes first


@pytest.mark.parametrize("name", ["mingru", "minlstm", "bimingru"])
def test_plugin_is_registered(name):
    check_model(name, embedding_dim=8, hidden_size=12)


def test_options_reject_out_of_range_values():
    with pytest.raises(ValueError, match="scan must be one of"):
        MinRNNOptions(scan="fast")
    with pytest.raises(ValueError, match="hidden_size"):
        MinRNNOptions(hidden_size=0)
    with pytest.raises(ValueError, match="expansion"):
        MinRNNOptions(expansion=0)
    with pytest.raises(ValueError, match="tie_weights"):
        MinRNNOptions(embedding_dim=8, hidden_size=16, tie_weights=True)
    with pytest.raises(ValueError, match="num_classes"):
        MinGRUClassifierOptions(num_classes=1)


def english_like(chars: int) -> str:
    words = "the of and to in is was that for on with as his he it by at from her which".split()
    rng = random.Random(0)
    return " ".join(rng.choice(words) for _ in range(chars // 4))[:chars] + "\n"


def test_trains_and_generates_through_the_cli(tmp_path):
    corpus, run = tmp_path / "corpus.txt", tmp_path / "run"
    corpus.write_text(english_like(20_000), encoding="utf-8")
    cli = CliRunner()
    result = cli.invoke(app, ["train", "lm", str(corpus), "--out", str(run), "--model", "mingru", "--max-steps", "5",
                              "--eval-every", "5", "--batch-size", "4", "--seq-len", "16", "--sample-tokens", "0",
                              "--hidden-size", "16", "--embedding-dim", "8", "--num-layers", "2", "--dropout", "0.1",
                              "--model-option", "expansion=1.5", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["steps"] == 5
    meta = json.loads((run / "run.json").read_text())
    assert meta["model"] == "mingru" and meta["model_options"]["expansion"] == 1.5
    result = cli.invoke(app, ["generate", str(run), "--prompt", "the ", "--max-tokens", "12", "--seed", "1"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("the ") and len(result.stdout) > len("the ")

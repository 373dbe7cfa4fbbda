"""Hawk: the parallel scan against the step form, the textrnn contracts, numerics, the CLI."""

from __future__ import annotations

import json
import random

import pytest
import torch
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.inference import ModelStepStepper, make_stepper, step_window
from textrnn.testing import check_language_model, check_model
from textrnn_hawk import HawkOptions, build
from textrnn_hawk.scan import linear_scan

LAYOUTS = [
    {"embedding_dim": 8, "hidden_size": 12},
    {"embedding_dim": 12, "hidden_size": 12, "num_layers": 2, "tie_weights": True, "mlp_expansion": 0,
     "conv_width": 1},
    {"embedding_dim": 12, "hidden_size": 12, "expansion": 2.0, "conv_width": 6, "dropout": 0.2,
     "embedding_dropout": 0.1},
]


def model_of(seed: int = 0, **options):
    torch.manual_seed(seed)
    return build(23, HawkOptions(**options)).eval()


@pytest.mark.parametrize("options", LAYOUTS)
def test_model_keeps_the_textrnn_contracts(options):
    check_language_model(build, HawkOptions(**options), name="hawk")


@pytest.mark.parametrize("scan", ["parallel", "sequential"])
@pytest.mark.parametrize("options", LAYOUTS)
def test_parallel_scan_equals_the_step_form_over_a_window_and_across_a_carried_state(options, scan):
    model = model_of(**options, scan=scan)
    ids = torch.randint(0, 23, (2, 80), generator=torch.Generator().manual_seed(3))
    cut = 37
    with torch.no_grad():
        head, state = model(ids[:, :cut])
        head_steps, step_state = step_window(model, ids[:, :cut])
        tail, end = model(ids[:, cut:], state)  # the second window starts from the carried state
        tail_steps, end_steps = step_window(model, ids[:, cut:], state)
    torch.testing.assert_close(head, head_steps, atol=1e-4, rtol=0)
    torch.testing.assert_close(tail, tail_steps, atol=1e-4, rtol=0)
    for got, expected in ((state, step_state), (end, end_steps)):
        assert len(got) == 2  # h and the convolution's history
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_state_holds_the_convolutions_last_inputs():
    model = model_of(embedding_dim=8, hidden_size=12, conv_width=4, num_layers=1)
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        _, (h, history) = model(ids)
        block = model.blocks[0]
        inputs = block.temporal.input_branch(block.temporal_norm(model._embed(ids)))  # (1, 5, W): the conv's input
    assert h.shape == (1, 1, 16) and history.shape == (1, 1, 3, 16)  # (L, B, width - 1, lru_width)
    torch.testing.assert_close(history[0], inputs[:, -3:])


def test_linear_scan_matches_the_recurrence_over_4096_steps():
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(2, 4096, 8, generator=generator) ** 0.05  # decays up to ~1: long memory
    b = torch.randn(2, 4096, 8, generator=generator)  # inputs of both signs
    h0 = torch.randn(2, 8, generator=generator)
    h, expected = h0.double(), []
    for t in range(4096):
        h = a[:, t].double() * h + b[:, t].double()
        expected.append(h)
    got = linear_scan(a, b, h0)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), torch.stack(expected, dim=1), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("scan", ["parallel", "sequential"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_scan_stays_finite_under_autocast_over_4096_tokens(dtype, scan):
    # CPU autocast takes both dtypes in torch >= 2.4 (Linear, GELU included)
    model = model_of(embedding_dim=16, hidden_size=16, scan=scan)
    ids = torch.randint(0, 23, (2, 4096), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference, _ = model(ids)
    model.train()
    with torch.autocast("cpu", dtype=dtype):
        logits, state = model(ids)
    assert all(s.dtype == torch.float32 and torch.isfinite(s).all() for s in state)
    assert torch.isfinite(logits).all()
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().flatten(0, 1), ids[:, 1:].flatten())
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert (logits.float() - reference).abs().max() < 0.1  # half-precision matmuls, float32 scan


def test_generation_steps_with_the_model_step_and_matches_forward():
    model = model_of(embedding_dim=8, hidden_size=12)
    stepper = make_stepper(model)
    assert isinstance(stepper, ModelStepStepper)
    ids = torch.randint(0, 23, (3, 9), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, _ = model(ids)
    got = [stepper.prime(ids[:, :4])]
    for t in range(4, 9):
        got.append(stepper.step(ids[:, t]).clone())
    torch.testing.assert_close(torch.stack(got, dim=1), expected[:, 3:], atol=1e-5, rtol=1e-4)


def test_plugin_is_registered():
    check_model("hawk", embedding_dim=8, hidden_size=12)


def test_options_reject_out_of_range_values():
    with pytest.raises(ValueError, match="scan must be one of"):
        HawkOptions(scan="fast")
    with pytest.raises(ValueError, match="conv_width"):
        HawkOptions(conv_width=0)
    with pytest.raises(ValueError, match="gate_power"):
        HawkOptions(gate_power=-1.0)
    with pytest.raises(ValueError, match="tie_weights"):
        HawkOptions(embedding_dim=8, hidden_size=16, tie_weights=True)


def test_trains_and_generates_through_the_cli(tmp_path):
    words = "the of and to in is was that for on with as his he it by at from her which".split()
    rng = random.Random(0)
    corpus, run = tmp_path / "corpus.txt", tmp_path / "run"
    corpus.write_text(" ".join(rng.choice(words) for _ in range(5000)) + "\n", encoding="utf-8")
    cli = CliRunner()
    result = cli.invoke(app, ["train", "lm", str(corpus), "--out", str(run), "--model", "hawk", "--max-steps", "5",
                              "--eval-every", "5", "--batch-size", "4", "--seq-len", "16", "--sample-tokens", "0",
                              "--hidden-size", "16", "--embedding-dim", "8", "--num-layers", "2", "--dropout", "0.1",
                              "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["steps"] == 5
    assert json.loads((run / "run.json").read_text())["model"] == "hawk"
    result = cli.invoke(app, ["generate", str(run), "--prompt", "the ", "--max-tokens", "12", "--seed", "1"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("the ") and len(result.stdout) > len("the ")

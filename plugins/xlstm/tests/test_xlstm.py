"""xlstm: the chunkwise form is the recurrent form, the contracts hold, the numerics stay finite."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from textrnn.registry import get_model
from textrnn.testing import check_language_model

from textrnn_xlstm import XLSTMOptions, build, cell

VOCAB = 23
SMALL = dict(embedding_dim=16, num_layers=2, num_heads=2)


def lively(options: XLSTMOptions, seed: int = 0):
    """A model whose gates depend strongly on the input, so the stabiliser m moves a lot
    (at initialisation the gate weights are zero and every step looks alike)."""
    torch.manual_seed(seed)
    model = build(VOCAB, options).eval()
    with torch.no_grad():
        for block in model.blocks:
            block.gates.weight.normal_(std=2.0)
            block.gates.bias.uniform_(-3.0, 3.0)
    return model


def run_in_windows(model, ids, form: str, chunk_size: int, cut: int):
    """Logits of ``ids`` fed as two windows with the state carried, and the final state."""
    model.options = dataclasses.replace(model.options, form=form, chunk_size=chunk_size)
    with torch.no_grad():
        head, state = model(ids[:, :cut])
        tail, state = model(ids[:, cut:], state)
    return torch.cat([head, tail], dim=1), state


@pytest.mark.parametrize("forget_gate, chunk_size", [("sigmoid", 1), ("sigmoid", 5), ("sigmoid", 8), ("exp", 3),
                                                    ("exp", 64)])
def test_chunkwise_matches_recurrent_over_a_window_and_across_a_carried_state(forget_gate, chunk_size):
    model = lively(XLSTMOptions(**SMALL, forget_gate=forget_gate))
    ids = torch.randint(0, VOCAB, (3, 29), generator=torch.Generator().manual_seed(1))
    # 29 = 13 + 16: windows that 3, 5 and 8 do not divide, and a second window entered with a state
    expected, expected_state = run_in_windows(model, ids, "recurrent", chunk_size, cut=13)
    actual, state = run_in_windows(model, ids, "chunkwise", chunk_size, cut=13)
    assert (actual - expected).abs().max() < 1e-4
    for a, e in zip(state, expected_state, strict=True):
        assert (a - e).abs().max() < 1e-4


def random_cell_inputs(batch=2, heads=2, steps=40, dim=4, gate_scale=4.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, steps, dim, generator=generator) for _ in range(3))
    log_i = gate_scale * torch.randn(batch, heads, steps, generator=generator)
    log_f = gate_scale * torch.randn(batch, heads, steps, generator=generator)  # exp gate: may grow the memory
    return q, k / dim**0.5, v, log_i, log_f


@pytest.mark.parametrize("chunk_size", [1, 6, 7, 40, 100])
def test_cell_forms_agree_from_a_nonzero_state_with_wild_gates(chunk_size):
    q, k, v, log_i, log_f = random_cell_inputs()
    _, start = cell.recurrent(q[:, :, :9], k[:, :, :9], v[:, :, :9], log_i[:, :, :9], log_f[:, :, :9],
                              cell.zero_state(2, 2, 4, q))
    rest = (x[:, :, 9:] for x in (q, k, v, log_i, log_f))
    q, k, v, log_i, log_f = rest
    expected, expected_state = cell.recurrent(q, k, v, log_i, log_f, start)
    actual, state = cell.chunkwise(q, k, v, log_i, log_f, start, chunk_size)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)
    for a, e in zip(state, expected_state, strict=True):
        torch.testing.assert_close(a, e, atol=1e-5, rtol=1e-4)


def test_cell_gradients_agree():
    # in float64, so that a wrong gradient path (say, through the stabiliser) stands out of the rounding
    inputs = [x.double().requires_grad_() for x in random_cell_inputs(steps=17, gate_scale=1.0)]
    state = tuple(s.double() for s in cell.zero_state(2, 2, 4, inputs[0]))
    grads = []
    for form in (lambda *a: cell.recurrent(*a, state), lambda *a: cell.chunkwise(*a, state, 5)):
        h, (c, n, _) = form(*inputs)
        grads.append(torch.autograd.grad(h.square().sum() + c.sum() + n.sum(), inputs))
    for a, e in zip(*grads):
        torch.testing.assert_close(a, e, atol=1e-9, rtol=1e-9)


def test_cell_stays_finite_over_4096_steps_where_the_memory_would_overflow():
    # exp forget gates of e^0.05 per step: the unscaled memory grows past e^200, beyond float32 (e^88)
    q, k, v, log_i, _ = random_cell_inputs(batch=1, heads=1, steps=4096, gate_scale=1.0)
    log_f = torch.full_like(log_i, 0.05)
    state = cell.zero_state(1, 1, 4, q)
    exact, _ = cell.recurrent(*(x.double() for x in (q, k, v, log_i, log_f)), tuple(s.double() for s in state))
    stepped, _ = cell.recurrent(q, k, v, log_i, log_f, state)
    chunked, final = cell.chunkwise(q, k, v, log_i, log_f, state, 64)
    assert all(torch.isfinite(t).all() for t in (chunked, *final))
    assert final[2].item() > 200  # the stabiliser carried the growth

    def error(h):  # |h| reaches ~1e3 here (|n . q| can be small), so relative to |h| + 1
        return ((h.double() - exact).abs() / (exact.abs() + 1)).max().item()

    # float32 rounding of m ~ 200 costs both forms some digits; the chunkwise form loses no more
    assert error(chunked) < 1e-3 and error(chunked) <= error(stepped)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_over_4096_tokens_is_finite_and_close_to_float32(dtype):
    model = build(VOCAB, XLSTMOptions(embedding_dim=8, num_layers=1, num_heads=2, forget_gate="exp"))
    ids = torch.randint(0, VOCAB, (1, 4096), generator=torch.Generator().manual_seed(2))
    reference, _ = model(ids)
    try:
        with torch.autocast("cpu", dtype=dtype):
            logits, state = model(ids)
            loss = torch.nn.functional.cross_entropy(logits[0, :-1].float(), ids[0, 1:])
    except RuntimeError as exc:  # a CPU build without autocast for this dtype
        pytest.skip(f"CPU autocast to {dtype} unsupported here: {exc}")
    loss.backward()
    assert torch.isfinite(logits).all() and all(torch.isfinite(s).all() for s in state)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert all(s.dtype == torch.float32 for s in state)  # the carried memory keeps its precision
    error = (logits.float() - reference).detach().abs()[0]  # (T, V)
    assert error.mean() < 0.02 and error.max() < 0.5  # bf16 keeps about 3 digits
    assert error[-256:].mean() < 2 * error[:256].mean() + 1e-3  # and the error does not grow along the window


# the defaults, and a variant with dropout on and tying off, are checked with every registered
# model in tests/unit/test_model_contracts.py
@pytest.mark.parametrize("options", [
    dict(embedding_dim=12, num_layers=2, num_heads=3, chunk_size=4, forget_gate="exp", dropout=0.2,
         embedding_dropout=0.1, tie_weights=False, conv_kernel=2, qkv_block_size=2),
    dict(embedding_dim=8, num_heads=1, form="recurrent"),
])
def test_model_keeps_the_textrnn_contracts(options):
    check_language_model(build, XLSTMOptions(**options), name="xlstm")


def test_plugin_is_registered():
    info = get_model("xlstm")
    assert (info.task, info.plugin, info.options) == ("lm", "xlstm", XLSTMOptions)


def test_one_token_takes_the_recurrent_step(monkeypatch):
    model = build(VOCAB, XLSTMOptions(**SMALL))
    called = []
    monkeypatch.setattr(cell, "chunkwise", lambda *a: called.append("chunkwise"))
    with torch.no_grad():
        logits, state = model(torch.tensor([[3], [4]]))
    assert logits.shape == (2, 1, VOCAB) and not called


@pytest.mark.parametrize("values, message", [
    (dict(embedding_dim=0), "embedding_dim"),
    (dict(embedding_dim=10, num_heads=3), "num_heads"),
    (dict(embedding_dim=10, qkv_block_size=3), "qkv_block_size"),
    (dict(chunk_size=0), "chunk_size"),
    (dict(conv_kernel=1), "conv_kernel"),
    (dict(forget_gate="tanh"), "forget_gate"),
    (dict(form="parallel"), "form"),
    (dict(dropout=1.0), "dropout"),
])
def test_options_reject_out_of_range_values(values, message):
    with pytest.raises(ValueError, match=message):
        XLSTMOptions(**values)

"""textrnn.scan: the sequential linear recurrence the scan families run on the CPU."""

import pytest
import torch

from textrnn.scan import _SequentialScan, sequential_scan
from textrnn.scan_choice import check_scan_choice, runs_sequential


def reference(a, b, h0):
    """The recurrence written out, differentiated by autograd."""
    h, out = h0, []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


def inputs(steps=37, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    a = torch.rand(3, steps, 5, generator=generator, dtype=dtype)
    b = torch.randn(3, steps, 5, generator=generator, dtype=dtype)
    h0 = torch.randn(3, 5, generator=generator, dtype=dtype)
    return a, b, h0


def test_values_and_gradients_equal_the_written_out_recurrence():
    a, b, h0 = (t.requires_grad_() for t in inputs())
    ours = _SequentialScan.apply(a, b, h0)
    expected = reference(a, b, h0)
    torch.testing.assert_close(ours, expected)
    weights = torch.randn_like(ours)  # a loss that weighs every step differently
    got = torch.autograd.grad((ours * weights).sum(), (a, b, h0))
    want = torch.autograd.grad((expected * weights).sum(), (a, b, h0))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_gradcheck():
    a, b, h0 = (t[:, :6].requires_grad_() if t.dim() == 3 else t.requires_grad_() for t in inputs())
    assert torch.autograd.gradcheck(_SequentialScan.apply, (a, b, h0))


def test_one_step_window():
    a, b, h0 = inputs(steps=1)
    torch.testing.assert_close(sequential_scan(a, b, h0), reference(a, b, h0).float())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_runs_in_float32_under_autocast_and_stays_exact_over_4096_steps(dtype):
    a, b, h0 = inputs(steps=4096, dtype=torch.float32, seed=1)
    a = a ** 0.02  # decays close to 1: long memory, large states
    with torch.autocast("cpu", dtype=dtype):
        got = sequential_scan(a.to(dtype), b.to(dtype), h0)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    expected = reference(a.to(dtype).double(), b.to(dtype).double(), h0.double())
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-3)


def test_scan_choice():
    cpu, meta = torch.zeros(1), torch.zeros(1, device="meta")
    assert runs_sequential("auto", cpu) and not runs_sequential("auto", meta)
    assert runs_sequential("sequential", meta) and not runs_sequential("parallel", cpu)
    check_scan_choice("parallel")
    with pytest.raises(ValueError, match="scan must be one of auto, parallel, sequential, got 'fast'"):
        check_scan_choice("fast")

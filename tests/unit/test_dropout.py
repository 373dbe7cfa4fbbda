"""textrnn.dropout.FastDropout: nn.Dropout's expectation from a cheaper mask."""

import pytest
import torch
from torch import nn

from textrnn.dropout import FastDropout, fast_dropout


def test_drops_the_asked_fraction_uniformly_and_keeps_the_mean():
    torch.manual_seed(0)
    out = FastDropout(0.3).train()(torch.ones(1000, 1001))  # an odd size: the last 64-bit draw is cut
    kept = out != 0
    assert kept.float().mean().item() == pytest.approx(0.7, abs=0.003)
    assert out.mean().item() == pytest.approx(1.0, abs=0.01)
    # every quarter of each 64-bit draw is uniform: no position in four is kept more often
    by_lane = kept.flatten()[: 1000 * 1000].view(-1, 4).float().mean(0)
    assert torch.allclose(by_lane, torch.full((4,), 0.7), atol=0.005)
    values = out.unique().tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / 0.7, rel=1e-4)


def test_gradient_is_the_mask_and_eval_is_the_identity():
    torch.manual_seed(1)
    layer = FastDropout(0.5).train()
    x = torch.randn(8, 16, requires_grad=True)
    out = layer(x)
    out.sum().backward()
    assert torch.equal(x.grad, (out != 0).float() * 2.0)
    assert torch.equal(layer.eval()(x), x)


def test_seeded_masks_repeat_and_p_zero_is_no_module():
    masks = []
    for _ in range(2):
        torch.manual_seed(7)
        masks.append(FastDropout(0.1).train()(torch.ones(5, 7, 3)))
    assert torch.equal(*masks)
    assert isinstance(fast_dropout(0.0), nn.Identity)

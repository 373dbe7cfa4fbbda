"""AWD-LSTM style regularisation options of the recurrent LMs: weight drop and locked dropout."""

from __future__ import annotations

import pytest
import torch

from textrnn_recurrent import RecurrentLMOptions
from textrnn.dropout import LockedDropout
from textrnn_recurrent.lm import RecurrentLanguageModel


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_weight_dropout_changes_training_outputs_only(cell):
    torch.manual_seed(0)
    plain = RecurrentLanguageModel(11, RecurrentLMOptions(embedding_dim=8, hidden_size=16), cell=cell)
    dropped = RecurrentLanguageModel(11, RecurrentLMOptions(embedding_dim=8, hidden_size=16, weight_dropout=0.5),
                                     cell=cell)
    dropped.load_state_dict(plain.state_dict())
    ids = torch.randint(0, 11, (3, 7))
    plain.eval(), dropped.eval()
    torch.testing.assert_close(dropped(ids)[0], plain(ids)[0], rtol=0, atol=0)
    dropped.train(), plain.train()
    logits, state = dropped(ids)
    assert not torch.allclose(logits, plain(ids)[0])
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in dropped.rnn.parameters())
    # the module's own weights are untouched by the dropout
    assert torch.equal(dropped.rnn.weight_hh_l0, plain.rnn.weight_hh_l0)
    assert len(state) == (2 if cell == "lstm" else 1)


def test_locked_dropout_uses_one_mask_for_every_time_step():
    torch.manual_seed(0)
    layer = LockedDropout(0.5).train()
    out = layer(torch.ones(4, 9, 6))
    dropped = out == 0  # (B, T, F)
    assert dropped.any() and (dropped == dropped[:, :1]).all()
    assert set(out.unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(layer.eval()(torch.ones(2, 3, 4)), torch.ones(2, 3, 4))


def test_options_reject_a_weight_dropout_of_one():
    with pytest.raises(ValueError, match="weight_dropout"):
        RecurrentLMOptions(weight_dropout=1.0)

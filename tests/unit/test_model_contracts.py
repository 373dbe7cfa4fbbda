"""Every registered model keeps the contracts of textrnn.testing, and each contract can fail."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from textrnn.registry import models
from textrnn.testing import check_classifier, check_language_model, check_model

SMALL = {"embedding_dim": 8, "hidden_size": 12}


def _variants():
    """Each registered model small, and small with every dropout on and every switch flipped."""
    cases = []
    for name, info in models().items():
        fields = {f.name: f for f in dataclasses.fields(info.options)}
        small = {k: v for k, v in SMALL.items() if k in fields}
        cases.append(pytest.param(name, small, id=f"{name}-small"))
        flipped = {k: 12 for k in SMALL if k in fields}  # equal sizes, so tie_weights may be on
        if "num_layers" in fields:
            flipped["num_layers"] = 2
        for key, f in fields.items():
            if key.endswith("dropout"):
                flipped[key] = 0.2
            elif f.type in (bool, "bool"):
                flipped[key] = not f.default
        cases.append(pytest.param(name, flipped, id=f"{name}-flipped"))
        if "pooling" in fields:
            from textrnn_classifier import POOLINGS

            cases += [pytest.param(name, {**small, "pooling": p}, id=f"{name}-{p}") for p in POOLINGS
                      if p != fields["pooling"].default]
    return cases


@pytest.mark.parametrize("name, options", _variants())
def test_registered_model_keeps_the_contracts(name, options):
    check_model(name, **options)


def test_every_first_party_model_is_checked():
    names = {p.values[0] for p in _variants()}
    # mlstm is a third-party plugin (plugins/mlstm, installed on its own): checked by its own tests
    assert {"rnn", "lstm", "gru", "bilstm", "bigru", "mingru", "minlstm", "bimingru", "hawk"} <= names


def test_unknown_model_is_an_assertion_naming_it():
    with pytest.raises(AssertionError, match="'nosuch' cannot be built"):
        check_model("nosuch")


# -- each contract fails when it should -------------------------------------------------------


class FlawedLM(nn.Module):
    """A small GRU LM that keeps every contract, unless told to break one."""

    def __init__(self, vocab_size, options=None, flaw=None):
        super().__init__()
        self.flaw = flaw
        self.embedding = nn.Embedding(vocab_size, 8)
        self.rnn = nn.GRU(8, 8, batch_first=True)
        self.decoder = nn.Linear(8, vocab_size)
        if flaw == "numpy init":
            with torch.no_grad():
                self.decoder.weight.copy_(torch.from_numpy(np.random.randn(vocab_size, 8)))
        if flaw == "unused parameter":
            self.spare = nn.Parameter(torch.zeros(3))
        if flaw == "unsaved tensor":
            self.offset = torch.randn(vocab_size)  # a plain attribute: not in the state_dict

    def forward(self, ids, state=None):
        h0 = None if state is None or self.flaw == "ignores state" else state[0]
        out, h = self.rnn(self.embedding(ids), h0)  # (B, T, 8), (1, B, 8)
        if self.flaw == "mixes rows":
            out = out + out.mean(dim=0, keepdim=True)
        logits = self.decoder(out)
        if self.flaw == "unsaved tensor":
            logits = logits + self.offset
        if self.flaw == "flat logits":
            logits = logits[:, -1]
        if self.flaw == "batch-first state":
            return logits, (h[0],)
        return logits, (h,)


def flawed_lm(flaw):
    return lambda vocab_size, options: FlawedLM(vocab_size, options, flaw)


def test_a_sound_language_model_passes():
    check_language_model(flawed_lm(None), None)


@pytest.mark.parametrize("flaw, contract", [
    ("flat logits", "output shapes"),
    ("batch-first state", "output shapes"),
    ("numpy init", "determinism"),
    ("ignores state", "carried state"),
    ("mixes rows", "batch independence"),
    ("unsaved tensor", "save/load"),
    ("unused parameter", "gradients"),
])
def test_a_broken_language_model_fails_the_contract_it_breaks(flaw, contract):
    with pytest.raises(AssertionError, match=f"contract '{contract}' failed for model 'flawed'"):
        check_language_model(flawed_lm(flaw), None, name="flawed")


class FlawedClassifier(nn.Module):
    def __init__(self, vocab_size, options, flaw=None):
        super().__init__()
        self.flaw = flaw
        self.embedding = nn.Embedding(vocab_size, 8)
        self.head = nn.Linear(8, options.num_classes + (flaw == "wrong class count"))

    def forward(self, ids, lengths):
        x = self.embedding(ids)  # (B, T, 8)
        if self.flaw == "reads padding":
            pooled = x.mean(dim=1)
        else:
            mask = torch.arange(ids.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
            pooled = (x * mask.unsqueeze(-1)).sum(1) / lengths.unsqueeze(1)
        return self.head(pooled)


@dataclasses.dataclass
class ClassifierOptions:
    num_classes: int = 3


def test_a_sound_classifier_passes():
    check_classifier(lambda v, o: FlawedClassifier(v, o), ClassifierOptions())


@pytest.mark.parametrize("flaw, contract", [
    ("wrong class count", "output shapes"),
    ("reads padding", "batch independence"),
])
def test_a_broken_classifier_fails_the_contract_it_breaks(flaw, contract):
    with pytest.raises(AssertionError, match=f"contract '{contract}' failed"):
        check_classifier(lambda v, o: FlawedClassifier(v, o, flaw), ClassifierOptions())


def test_checks_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_language_model(flawed_lm(None), None)
    assert torch.equal(torch.rand(3), expected)

"""--compile: the compiled module is used when it works, and eager mode takes over when it fails."""

from __future__ import annotations

import torch
from torch import nn

from textrnn.training import compiled
from textrnn.training.compiled import CompiledOrEager


def test_falls_back_to_eager_when_the_first_compiled_call_fails(monkeypatch):
    def broken_compile(module):
        def call(*args, **kwargs):
            raise RuntimeError("no C++ compiler found\nlong details")
        return call

    monkeypatch.setattr(compiled.torch, "compile", broken_compile)
    messages = []
    layer = nn.Linear(3, 2)
    wrapped = CompiledOrEager(layer, messages.append)
    x = torch.ones(1, 3)
    assert torch.equal(wrapped(x), layer(x))
    assert torch.equal(wrapped(x), layer(x))
    assert messages == ["torch.compile failed at the first step (RuntimeError: no C++ compiler found); "
                        "training without --compile"]


def test_uses_the_compiled_module_when_it_works(monkeypatch):
    calls = []

    def fake_compile(module):
        def call(*args, **kwargs):
            calls.append(args)
            return module(*args, **kwargs)
        return call

    monkeypatch.setattr(compiled.torch, "compile", fake_compile)
    messages = []
    wrapped = CompiledOrEager(nn.Identity(), messages.append)
    wrapped(torch.ones(1)), wrapped(torch.ones(1))
    assert len(calls) == 2 and messages == []

"""Optional ``torch.compile`` of the training module, with a clean fall-back to eager mode."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class CompiledOrEager:
    """Calls the compiled module; if compiling fails on the first call, warns once and runs eagerly.

    torch.compile is lazy: errors (no C++ compiler, an unsupported op, an old torch) appear
    at the first forward, not at ``torch.compile`` itself, so the first call is the one guarded.
    Both paths share the same parameters, so falling back loses nothing.
    """

    def __init__(self, module: nn.Module, message: Callable[[str], None]):
        self.eager = module
        self.message = message
        self.compiled = None
        self._checked = False
        if not hasattr(torch, "compile"):
            message("torch.compile is not available in this torch; training without --compile")
            return
        try:
            self.compiled = torch.compile(module)
        except Exception as exc:  # noqa: BLE001 - any failure means: stay eager
            message(f"torch.compile failed ({_first_line(exc)}); training without --compile")

    def __call__(self, *args, **kwargs):
        if self.compiled is None:
            return self.eager(*args, **kwargs)
        if self._checked:
            return self.compiled(*args, **kwargs)
        try:
            out = self.compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            self.compiled = None
            self.message(f"torch.compile failed at the first step ({_first_line(exc)}); training without --compile")
            return self.eager(*args, **kwargs)
        self._checked = True
        return out


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__

"""Tiny runs for the export tests, trained through the CLI on small corpora."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.cli.helpers import run_cli

TINY_LM = ["--batch-size", "8", "--seq-len", "16", "--sample-tokens", "0", "--max-steps", "3", "--eval-every", "3",
           "--precision", "fp32"]  # onnxruntime runs fp32; a bf16 default (AMX CPUs) would change greedy text


def train_lm(out: Path, corpus: Path, *extra: str) -> Path:
    result = run_cli("train", "lm", corpus, "--out", out, *TINY_LM, *extra)
    assert result.exit_code == 0, result.stderr
    return out


def train_classifier(out: Path) -> Path:
    """A bigru classifier on the embedded sentiment sample, 2 layers, bidirectional, attention pooling."""
    result = run_cli("train", "classifier", "--out", out, "--max-steps", "3", "--eval-every", "3", "--threads", "1",
                     "--embedding-dim", "8", "--hidden-size", "8", "--model", "bigru", "--model-option", "num_layers=2")
    assert result.exit_code == 0, result.stderr
    return out


def scramble_weights(run: Path, seed: int = 0, std: float = 2.5, recurrent_std: float = 0.25) -> None:
    """Replace the best weights by random ones of a larger spread, saved as a new best checkpoint.

    Three training steps leave a model whose greedy text repeats one token forever, which
    would let a broken state carry pass a text comparison; weights like these give text
    that changes with every step of the state. The recurrent weights get a small spread
    (``recurrent_std``) so the state forgets a rounding difference instead of amplifying
    it: with chaotic weights, torch and onnxruntime would part after a few dozen steps on
    some CPUs.
    """
    from textrnn.training import checkpoint as ckpt

    found, _ = ckpt.load_latest(run)
    gen = torch.Generator().manual_seed(seed)
    # sorted: safetensors hands names back in no fixed order, and each draw must go to the same tensor every time
    shapes = {name: t.shape for name, t in found.tensors("model").items()}
    tensors = {name: torch.randn(shapes[name], generator=gen) * (recurrent_std if "_hh" in name else std)
               for name in sorted(shapes)}
    path = ckpt.save_checkpoint(run, found.step + 1, {"model": tensors}, found.meta)
    ckpt.mark_best(run, path, {"step": found.step + 1})

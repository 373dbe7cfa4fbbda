"""torch.compile on the CPU for the scan families: one training step, eager against compiled.

Each family at the size of ``benchmarks/family_speed.py`` and ``family_quality.py`` (about
the 2x256 character LSTM's parameter count), a step of batch 32 x 128 (the character defaults) under bf16
autocast with AdamW, as ``textrnn train lm --precision bf16`` runs it. Eager and compiled
are timed in the same process on the same weights' shapes; ``first_s`` is the compiled
side's first step (compilation; less when the inductor cache is warm). Hawk is also timed
with dropout 0.1 on its residual branches and embedding, which it draws with
:class:`textrnn.dropout.FastDropout`; ``--torch-dropout`` swaps in ``nn.Dropout`` for the
comparison. One JSON line per model. A benchmark, not a test.

    python benchmarks/compile_speed.py [--families mingru-3x256,hawk-2x192,...] [--steps 10] [--torch-dropout]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from family_speed import FAMILIES, build  # benchmarks/ is on sys.path when this file runs
from textrnn.dropout import FastDropout


def step_ms(model: nn.Module, run, steps: int) -> tuple[float, float]:
    """(first step s, mean ms of ``steps`` steps after two warm-ups) of ``run``, the callable model."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, 65, (32, 129))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, _ = run(ids[:, :-1])
        loss = nn.functional.cross_entropy(logits.float().reshape(-1, 65), ids[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return first, (time.perf_counter() - start) / steps * 1000


def measure(label: str, name: str, options: dict, steps: int, torch_dropout: bool) -> dict:
    row = {"model": label}
    for side in ("eager", "compiled"):
        model = build(name, options, 65)
        if torch_dropout:
            for module in list(model.modules()):
                for child_name, child in list(module.named_children()):
                    if isinstance(child, FastDropout):
                        setattr(module, child_name, nn.Dropout(options["dropout"]))
        first, ms = step_ms(model, model if side == "eager" else torch.compile(model), steps)
        row[f"{side}_ms"] = round(ms, 1)
        if side == "compiled":
            row["first_s"] = round(first, 1)
    row["speedup"] = round(row["eager_ms"] / row["compiled_ms"], 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES), help="benchmarks/family_speed.py's names")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--torch-dropout", action="store_true", help="hawk's dropout rows with nn.Dropout")
    args = parser.parse_args()
    for family in args.families.split(","):
        name, options = FAMILIES[family]
        print(json.dumps({**measure(family, name, options, args.steps, False), "dropout": 0}), flush=True)
        if name == "hawk":
            dropped = {**options, "dropout": 0.1, "embedding_dropout": 0.1}
            row = measure(f"{family}, dropout 0.1", name, dropped, args.steps, args.torch_dropout)
            print(json.dumps({**row, "dropout": "nn.Dropout" if args.torch_dropout else "FastDropout"}), flush=True)


if __name__ == "__main__":
    main()

"""torch.compile on the CPU for the scan families: one training step, eager against compiled.

Each family at the size of ``benchmarks/family_quality.py`` (about the 2x256 character
LSTM's parameter count), a step of batch 32 x 128 (the character defaults) under bf16
autocast with AdamW, as ``textrnn train lm --precision bf16`` runs it. Eager and compiled
are timed in the same process on the same weights' shapes; ``first_s`` is the compiled
side's first step (compilation; less when the inductor cache is warm). Hawk is also timed
with dropout 0.1 on its residual branches and embedding, which it draws with
:class:`textrnn.dropout.FastDropout`; ``--torch-dropout`` swaps in ``nn.Dropout`` for the
comparison. One JSON line per model. A benchmark, not a test.

    python benchmarks/compile_speed.py [--families mingru,minlstm,hawk,xlstm] [--steps 10] [--torch-dropout]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from family_quality import CHAR_MODELS  # noqa: E402  the sizes compared there

from textrnn.cli.common import load_plugins  # noqa: E402
from textrnn.dropout import FastDropout  # noqa: E402
from textrnn.registry import get_model  # noqa: E402


def options_from_flags(flags: list[str]) -> tuple[str, dict]:
    """family_quality's CLI flags as (model, options)."""
    name, options, i = None, {}, 0
    while i < len(flags):
        flag, value = flags[i], flags[i + 1]
        if flag == "--model":
            name = value
        elif flag == "--model-option":
            key, raw = value.split("=", 1)
            options[key] = raw == "true" if raw in ("true", "false") else int(raw)
        else:
            options[flag[2:].replace("-", "_")] = int(value)
        i += 2
    return name, options


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
    info = get_model(name, task="lm")
    row = {"model": label}
    for side in ("eager", "compiled"):
        torch.manual_seed(0)
        model = info.factory(65, info.make_options(options))
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
    parser.add_argument("--families", default="mingru,minlstm,hawk,xlstm")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--torch-dropout", action="store_true", help="hawk's dropout rows with nn.Dropout")
    args = parser.parse_args()
    load_plugins()
    for family in args.families.split(","):
        name, options = options_from_flags(CHAR_MODELS[family])
        print(json.dumps({**measure(family, name, options, args.steps, False), "dropout": 0}), flush=True)
        if name == "hawk":
            dropped = {**options, "dropout": 0.1, "embedding_dropout": 0.1}
            row = measure(f"{family}, dropout 0.1", name, dropped, args.steps, args.torch_dropout)
            print(json.dumps({**row, "dropout": "nn.Dropout" if args.torch_dropout else "FastDropout"}), flush=True)


if __name__ == "__main__":
    main()

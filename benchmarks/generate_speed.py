"""Tokens per second: textrnn's ``generate`` against a bare PyTorch step loop, side by side.

Both paths sample at temperature 1 from the same randomly initialised char models
(vocabulary 65). The bare loop is the standard one-step loop under ``torch.no_grad``::

    out, state = model.rnn(model.embedding(x)[:, None], state)
    x = torch.multinomial(torch.softmax(model.decoder(out[:, -1]), -1), 1)[:, 0]

Runs alternate (bare, textrnn, bare, ...) and each side keeps its best of ``--repeats``,
since a shared machine is noisy. textrnn's time includes building the stepper, priming
and decoding the text. ``textrnn_step`` says which step textrnn ran: ``compiled`` (the C
step of textrnn/native_step.c, one sequence on the CPU), ``pytorch`` (the fused PyTorch
step) or ``cuda-graph``.

The recurrent families (mingru, minlstm, hawk, xlstm; the models of
``benchmarks/family_speed.py``, about 0.95M parameters each) add one row each, one
sequence at a time: their baseline is the module's ``forward`` called one token at a
time with the carried state (``model(x[:, None], state)``, softmax, a multinomial draw),
since they have no ``model.rnn`` to step. ``textrnn_step`` names textrnn's stepper there
(``ModelStepStepper``: the model's own O(1) ``step``; ``ModuleStepper``: the generic one).
This is a benchmark, not a test.

With ``--compiled-step`` each family row also times the model's ``step`` eager and under
``torch.compile``, and the seconds compiling took: what a compiled step would give.

    python benchmarks/generate_speed.py [--device cuda] [--json] [--threads N] [--tokens N] [--families none]
                                        [--compiled-step]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from family_speed import FAMILIES, build  # benchmarks/ is on sys.path when this file runs
from textrnn.generation import generate
from textrnn.inference import CudaGraphStepper, NativeRecurrentStepper, make_stepper
from textrnn_char import CharTokenizer
from textrnn_recurrent import RecurrentLMOptions
from textrnn_recurrent.lm import RecurrentLanguageModel

# (name, cell, hidden_size, num_layers, batch); a batch of 64 runs a sixth of --tokens
CONFIGS = [
    ("lstm-2x256", "lstm", 256, 2, 1),
    ("lstm-2x512", "lstm", 512, 2, 1),
    ("gru-2x256", "gru", 256, 2, 1),
    ("gru-2x512", "gru", 512, 2, 1),
    ("lstm-2x512-batch64", "lstm", 512, 2, 64),
]


def char_tokenizer() -> CharTokenizer:
    """64 characters plus <unk>: vocabulary 65, as for tiny-shakespeare."""
    chars = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[:64]
    return CharTokenizer.train([chars])


def bare_loop(model, batch: int, tokens: int, start: int, device) -> None:
    with torch.no_grad():
        x = torch.full((batch,), start, dtype=torch.long, device=device)
        state = None
        for _ in range(tokens):
            out, state = model.rnn(model.embedding(x)[:, None], state)  # (B, 1, H)
            probs = torch.softmax(model.decoder(out[:, -1]), dim=-1)  # (B, V)
            x = torch.multinomial(probs, 1)[:, 0]


def forward_loop(model, tokens: int, start: int, device) -> None:
    """The generic baseline for a family: the module's forward, one token per call."""
    with torch.inference_mode():
        x, state = torch.tensor([start], device=device), None
        for _ in range(tokens):
            logits, state = model(x[:, None], state)  # (1, 1, V)
            x = torch.multinomial(torch.softmax(logits[:, -1], dim=-1), 1)[:, 0]


def step_loop(step, tokens: int, start: int, device) -> None:
    """A family's own O(1) ``step`` (eager, or torch.compiled for ``--compiled-step``), one token per call."""
    with torch.inference_mode():
        x, state = torch.tensor([start], device=device), None
        for _ in range(tokens):
            logits, state = step(x, state)  # (1, V)
            x = torch.multinomial(torch.softmax(logits, dim=-1), 1)[:, 0]


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    begin = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - begin


def measure(name, cell, hidden, layers, batch, tokens, device, repeats, tokenizer) -> dict:
    torch.manual_seed(0)
    options = RecurrentLMOptions(embedding_dim=128, hidden_size=hidden, num_layers=layers)
    model = RecurrentLanguageModel(tokenizer.vocab_size, options, cell=cell).to(device).eval()
    start = tokenizer.newline_id

    def ours():
        generate(model, tokenizer, max_tokens=tokens, num_samples=batch, seed=0, device=device)

    def bare():
        bare_loop(model, batch, tokens, start, device)

    ours(), bare()  # warm-up: allocator, MKL/cuDNN handles, CUDA graph capture code paths
    best_ours = best_bare = float("inf")
    for _ in range(repeats):
        best_bare = min(best_bare, timed(bare, device))
        best_ours = min(best_ours, timed(ours, device))
    ours_rate, bare_rate = batch * tokens / best_ours, batch * tokens / best_bare
    stepper = make_stepper(model, device)
    step = ("cuda-graph" if isinstance(stepper, CudaGraphStepper)
            else "compiled" if isinstance(stepper, NativeRecurrentStepper) and batch == 1 else "pytorch")
    return {"config": name, "device": str(device), "textrnn_tokens_per_s": round(ours_rate, 1),
            "bare_tokens_per_s": round(bare_rate, 1), "ratio": round(ours_rate / bare_rate, 2), "textrnn_step": step}


def best_times(repeats: int, device, *functions) -> list[float]:
    """Best wall time of each function, run alternately ``repeats`` times after a warm-up."""
    for function in functions:
        function()
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for i, function in enumerate(functions):
            best[i] = min(best[i], timed(function, device))
    return best


def measure_family(name, tokens, device, repeats, tokenizer, compiled_step: bool = False) -> dict:
    model_name, options = FAMILIES[name]
    model = build(model_name, options, tokenizer.vocab_size).to(device).eval()
    row = compiled_step_row(model, tokens, device, repeats, tokenizer) if compiled_step else {}

    def ours():
        generate(model, tokenizer, max_tokens=tokens, num_samples=1, seed=0, device=device)

    def baseline():
        forward_loop(model, tokens, tokenizer.newline_id, device)

    best_baseline, best_ours = best_times(repeats, device, baseline, ours)
    return {"config": name, "device": str(device), "textrnn_tokens_per_s": round(tokens / best_ours, 1),
            "bare_tokens_per_s": round(tokens / best_baseline, 1), "ratio": round(best_baseline / best_ours, 2),
            "textrnn_step": type(make_stepper(model, device)).__name__, "baseline": "forward per token", **row}


def compiled_step_row(model, tokens, device, repeats, tokenizer) -> dict:
    """What torch.compile would give the family's step (not what textrnn runs): tokens/s of
    the eager and the compiled ``step``, timed alternately, and the seconds compiling took."""
    if not hasattr(model, "step"):
        return {}
    compiled = torch.compile(model.step, dynamic=False)
    begin = time.perf_counter()
    step_loop(compiled, 2, tokenizer.newline_id, device)  # compiles for the zero state, then the carried one
    compile_s = time.perf_counter() - begin
    eager_time, compiled_time = best_times(repeats, device, lambda: step_loop(model.step, tokens, tokenizer.newline_id, device),
                                           lambda: step_loop(compiled, tokens, tokenizer.newline_id, device))
    return {"eager_step_tokens_per_s": round(tokens / eager_time, 1),
            "compiled_step_tokens_per_s": round(tokens / compiled_time, 1), "compile_s": round(compile_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--json", action="store_true", help="one JSON object per configuration")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side; the best counts")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--tokens", type=int, default=600, help="tokens per sequence, one sequence at a time")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help="comma-separated family rows (benchmarks/family_speed.py's names), or none")
    parser.add_argument("--compiled-step", action="store_true",
                        help="family rows also time the model's step eager and under torch.compile")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    tokenizer = char_tokenizer()
    if not args.json:
        print(f"device {device}, {torch.get_num_threads()} threads, best of {args.repeats}")
        print(f"{'config':<22}{'bare tok/s':>12}{'textrnn tok/s':>15}{'ratio':>8}  textrnn step")
    families = [] if args.families == "none" else args.families.split(",")
    for config in CONFIGS:
        tokens = args.tokens if config[-1] == 1 else max(1, args.tokens // 6)
        show(measure(*config, tokens, device=device, repeats=args.repeats, tokenizer=tokenizer), args.json)
    for family in families:
        show(measure_family(family, args.tokens, device, args.repeats, tokenizer, args.compiled_step), args.json)


def show(row: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(row), flush=True)
    else:
        print(f"{row['config']:<22}{row['bare_tokens_per_s']:>12.0f}{row['textrnn_tokens_per_s']:>15.0f}"
              f"{row['ratio']:>7.1f}x  {row['textrnn_step']}"
              + (f" (baseline: {row['baseline']})" if "baseline" in row else "")
              + (f"; step eager {row['eager_step_tokens_per_s']:.0f}, compiled {row['compiled_step_tokens_per_s']:.0f}"
                 f" tok/s after {row['compile_s']:.0f} s" if "compile_s" in row else ""), flush=True)

if __name__ == "__main__":
    main()

"""The scan-trained families (mingru, minlstm, hawk): generation and training speed, side by side.

Two comparisons per family, on randomly initialised char models (vocabulary 65) of about
the 2x256 LSTM's parameter count (embedding 128, 0.95M parameters):

* ``generate``: one sequence at a time, tokens/s of textrnn's ``generate`` (which steps
  the model's O(1) ``step`` form) against calling the module's ``forward`` one token at a
  time (``model(x[:, None], state)``, then softmax and a multinomial draw), and the ratio.
* ``train``: forward + backward tokens/s at sequence length ``--seq-len`` (512) of the
  parallel scan (``forward``) against the same model's step-by-step form
  (:func:`textrnn.inference.step_window`), and the ratio. Feng et al. report 175x for
  minGRU at 512 on a GPU; the issue asks for at least 5x on the CPU.

Runs alternate between the two sides and each keeps its best of ``--repeats``, since a
shared machine is noisy. One JSON object per line. This is a benchmark, not a test.

    python benchmarks/family_speed.py [--tokens N] [--seq-len N] [--batch N] [--repeats N] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from textrnn.generation import generate
from textrnn.inference import make_stepper, step_window
from textrnn.registry import get_model
from textrnn_char import CharTokenizer

#: name -> (model, options): about 0.95M parameters each, as the 2x256 LSTM with embedding 128
FAMILIES = {
    "mingru-3x256": ("mingru", {"embedding_dim": 256, "hidden_size": 256, "num_layers": 3, "mlp_expansion": 1,
                                "tie_weights": True}),
    "minlstm-2x256": ("minlstm", {"embedding_dim": 256, "hidden_size": 256, "num_layers": 2, "mlp_expansion": 2,
                                  "tie_weights": True}),
    "hawk-2x192": ("hawk", {"embedding_dim": 192, "hidden_size": 192, "num_layers": 2, "mlp_expansion": 2,
                            "tie_weights": True}),
}


def char_tokenizer() -> CharTokenizer:
    chars = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[:64]
    return CharTokenizer.train([chars])  # 64 characters plus <unk>: vocabulary 65, as for tiny-shakespeare


def build(model_name: str, options: dict, vocab_size: int):
    torch.manual_seed(0)
    info = get_model(model_name)
    return info.factory(vocab_size, info.make_options(options))


def best_of(repeats: int, *functions) -> list[float]:
    """Best wall time of each function, the functions run alternately ``repeats`` times."""
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for i, function in enumerate(functions):
            begin = time.perf_counter()
            function()
            best[i] = min(best[i], time.perf_counter() - begin)
    return best


def forward_loop(model, tokens: int, start: int) -> None:
    """The generic baseline: the module's forward, one token per call."""
    with torch.inference_mode():
        x, state = torch.tensor([start]), None
        for _ in range(tokens):
            logits, state = model(x[:, None], state)  # (1, 1, V)
            x = torch.multinomial(torch.softmax(logits[:, -1], dim=-1), 1)[:, 0]


def measure_generation(name, model, tokenizer, tokens: int, repeats: int) -> dict:
    model.eval()

    def ours():
        generate(model, tokenizer, max_tokens=tokens, num_samples=1, seed=0)

    def baseline():
        forward_loop(model, tokens, tokenizer.newline_id)

    ours(), baseline()  # warm-up
    ours_time, baseline_time = best_of(repeats, baseline, ours)[::-1]
    return {"benchmark": "generate", "config": name, "step": type(make_stepper(model)).__name__,
            "textrnn_tokens_per_s": round(tokens / ours_time, 1),
            "forward_per_token_tokens_per_s": round(tokens / baseline_time, 1),
            "ratio": round(baseline_time / ours_time, 2)}


def measure_training(name, model, vocab_size: int, batch: int, seq_len: int, repeats: int) -> dict:
    model.train()
    ids = torch.randint(0, vocab_size, (batch, seq_len + 1), generator=torch.Generator().manual_seed(0))

    def loss_backward(run):
        logits, _ = run(model, ids[:, :-1])
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten()).backward()
        model.zero_grad(set_to_none=True)

    def parallel():
        loss_backward(lambda m, x: m(x))

    def stepwise():
        loss_backward(step_window)

    parallel()  # warm-up
    parallel_time, step_time = best_of(repeats, parallel, stepwise)
    return {"benchmark": "train", "config": name, "seq_len": seq_len, "batch": batch,
            "parameters": sum(p.numel() for p in model.parameters()),
            "parallel_tokens_per_s": round(batch * seq_len / parallel_time, 1),
            "stepwise_tokens_per_s": round(batch * seq_len / step_time, 1),
            "ratio": round(step_time / parallel_time, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=300, help="tokens generated per timed run")
    parser.add_argument("--seq-len", type=int, default=512, help="training window length")
    parser.add_argument("--batch", type=int, default=8, help="training batch size")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per side; the best counts")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--only", choices=["generate", "train"], default=None, help="run one benchmark")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tokenizer = char_tokenizer()
    for name, (model_name, options) in FAMILIES.items():
        model = build(model_name, options, tokenizer.vocab_size)
        rows = []
        if args.only in (None, "generate"):
            rows.append(measure_generation(name, model, tokenizer, args.tokens, args.repeats))
        if args.only in (None, "train"):
            rows.append(measure_training(name, model, tokenizer.vocab_size, args.batch, args.seq_len, args.repeats))
        for row in rows:
            print(json.dumps({**row, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()

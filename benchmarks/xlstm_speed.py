"""xlstm speed: chunkwise against step-by-step training, and O(1) generation against re-reading the prefix.

Usage::

    nice python benchmarks/xlstm_speed.py [--embedding-dim 192] [--num-layers 4] [--threads 1]

Printed as JSON lines, each measurement beside its baseline from the same process; rates
are tokens per CPU second of this process (see :func:`best_of`):

* ``train``: training tokens/s (forward, backward, AdamW step) of one model on windows of
  ``--seq-len`` (512) tokens, with the window computed chunkwise (``form=chunkwise``, the
  default) and step by step (``form=recurrent``), and their ratio;
* ``generate``: tokens/s generating one sequence on the CPU through ``textrnn.inference``'s
  stepper (for xlstm the generic one: ``forward`` on one token, which takes the recurrent
  step with the carried state), against calling ``forward`` on the whole prefix for every
  token.

For scale, both lines also give the 2x256 LSTM (embedding 128, about the parameter count
of the default xlstm) on the same data: its training rate and its compiled generation step.

This is a benchmark, not a test: the ratios are what to read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

VOCAB = 65  # tiny Shakespeare's characters


def best_of(repeats: int, fn) -> float:
    """Least CPU seconds of ``repeats`` calls: process time, not wall time, so that other work on a
    shared machine does not count (torch runs on ``--threads`` threads, 1 by default)."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def training_rate(model, ids, repeats: int) -> float:
    """Tokens per second of forward + backward + AdamW step on ``ids`` (B, T + 1)."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        logits, _ = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    return ids[:, 1:].numel() / best_of(repeats, step)


def stepped_rate(model, prompt, tokens: int) -> float:
    """Tokens per second through textrnn.inference's stepper for ``model``, greedy, one sequence."""
    from textrnn.inference import make_stepper

    def stepped():
        stepper = make_stepper(model, "cpu")
        logits = stepper.prime(prompt)
        for _ in range(tokens):
            logits = stepper.step(logits.argmax(-1))

    return tokens / best_of(2, stepped)


def whole_prefix_rate(model, prompt, tokens: int) -> float:
    """Tokens per second calling ``forward`` on the whole prefix for every new token (no state)."""
    import torch

    def whole_prefix():
        ids = prompt
        with torch.inference_mode():
            for _ in range(tokens):
                logits, _ = model(ids)
                ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)

    return tokens / best_of(1, whole_prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedding-dim", type=int, default=192, help="xlstm embedding_dim (residual width)")
    parser.add_argument("--num-layers", type=int, default=4, help="xlstm blocks")
    parser.add_argument("--num-heads", type=int, default=4, help="xlstm heads per block")
    parser.add_argument("--chunk-size", type=int, default=64, help="xlstm chunk size for the chunkwise form")
    parser.add_argument("--seq-len", type=int, default=512, help="training window length")
    parser.add_argument("--batch-size", type=int, default=4, help="training windows per step")
    parser.add_argument("--repeats", type=int, default=1, help="timed training steps per form; the best is kept")
    parser.add_argument("--tokens", type=int, default=200, help="tokens generated per generation measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    import torch

    from textrnn.registry import get_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    info = get_model("xlstm")
    options = info.make_options({"embedding_dim": args.embedding_dim, "num_layers": args.num_layers,
                                 "num_heads": args.num_heads, "chunk_size": args.chunk_size})
    model = info.factory(VOCAB, options)
    params = sum(p.numel() for p in model.parameters())
    config = {"embedding_dim": args.embedding_dim, "num_layers": args.num_layers, "num_heads": args.num_heads,
              "params": params, "threads": args.threads}

    ids = torch.randint(0, VOCAB, (args.batch_size, args.seq_len + 1))
    model.train()
    rates = {}
    for form in ("chunkwise", "recurrent"):
        model.options = dataclasses.replace(options, form=form)
        rates[form] = training_rate(model, ids, args.repeats)
    model.options = options
    lstm_info = get_model("lstm")
    lstm = lstm_info.factory(VOCAB, lstm_info.make_options({"hidden_size": 256, "num_layers": 2,
                                                            "embedding_dim": 128}))
    lstm_rate = training_rate(lstm.train(), ids, args.repeats)
    print(json.dumps({"bench": "train", **config, "seq_len": args.seq_len, "batch_size": args.batch_size,
                      "chunk_size": args.chunk_size, "chunkwise_tokens_per_cpu_s": round(rates["chunkwise"], 1),
                      "recurrent_tokens_per_cpu_s": round(rates["recurrent"], 1),
                      "ratio": round(rates["chunkwise"] / rates["recurrent"], 2),
                      "lstm_2x256_tokens_per_cpu_s": round(lstm_rate, 1)}), flush=True)

    model.eval()
    prompt = torch.randint(0, VOCAB, (1, 16))
    stepped, whole = stepped_rate(model, prompt, args.tokens), whole_prefix_rate(model, prompt, args.tokens)
    lstm_stepped = stepped_rate(lstm.eval(), prompt, args.tokens)
    print(json.dumps({"bench": "generate", **config, "tokens": args.tokens, "prompt": prompt.shape[1],
                      "step_tokens_per_cpu_s": round(stepped, 1), "whole_prefix_tokens_per_cpu_s": round(whole, 1),
                      "ratio": round(stepped / whole, 2),
                      "lstm_2x256_step_tokens_per_cpu_s": round(lstm_stepped, 1),
                      "lstm_params": sum(p.numel() for p in lstm.parameters())}), flush=True)


if __name__ == "__main__":
    main()

"""Training throughput: textrnn's trainer against a bare PyTorch loop, side by side.

Both train the same model (Embedding -> nn.LSTM -> Linear, cross-entropy, AdamW,
gradient clipping at 1.0, carried hidden state) on the same contiguous batches, with the
same batch, sequence length and precision. Runs alternate (bare, textrnn, bare, ...) and
each side's best run is kept, because these machines are noisy; the ratio is what to read.

    python benchmarks/train_throughput.py                 # CPU configurations
    python benchmarks/train_throughput.py --device cuda   # the GPU table of issue 6
    python benchmarks/train_throughput.py --json          # one JSON object per configuration
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Config:
    hidden: int
    layers: int
    batch: int
    seq: int
    precision: str = "fp32"
    vocab: int = 65
    embedding: int = 128

    @property
    def name(self) -> str:
        return f"lstm {self.layers}x{self.hidden} vocab {self.vocab} batch {self.batch} seq {self.seq} {self.precision}"


CPU_CONFIGS = [Config(256, 2, 32, 64), Config(512, 2, 32, 64)]
GPU_CONFIGS = [Config(512, 2, 128, 256, p) for p in ("fp32", "bf16")] + \
              [Config(512, 2, 512, 256, p) for p in ("fp32", "bf16")] + \
              [Config(1024, 3, 256, 256, p) for p in ("fp32", "bf16")] + \
              [Config(1024, 2, 128, 128, p, vocab=8000) for p in ("fp32", "bf16")]


def write_corpus(path: Path, vocab: int, n_chars: int) -> None:
    """Random text over ``vocab - 1`` symbols (the char tokenizer adds <unk>, giving ``vocab``)."""
    rng = random.Random(0)
    alphabet = [chr(0x4E00 + i) for i in range(vocab - 1)] if vocab > 200 else \
        [chr(33 + i) for i in range(vocab - 1)]
    path.write_text("".join(rng.choices(alphabet, k=n_chars)), encoding="utf-8")


def bare_loop(cfg: Config, tokens: torch.Tensor, steps: int, device: torch.device) -> float:
    """The hand-written baseline; returns tokens per second over the timed steps."""
    torch.manual_seed(0)
    emb = nn.Embedding(cfg.vocab, cfg.embedding).to(device)
    rnn = nn.LSTM(cfg.embedding, cfg.hidden, cfg.layers, batch_first=True).to(device)
    dec = nn.Linear(cfg.hidden, cfg.vocab).to(device)
    params = [*emb.parameters(), *rnn.parameters(), *dec.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3, fused=device.type == "cuda" or None)
    stream = len(tokens) // cfg.batch
    data = tokens[: stream * cfg.batch].view(cfg.batch, stream).to(device)
    cast = torch.autocast(device.type, dtype=torch.bfloat16) if cfg.precision == "bf16" else contextlib.nullcontext()
    state, warmup = None, 5
    for i in range(steps + warmup):
        if i == warmup:
            _sync(device)
            start = time.perf_counter()
        j = (i * cfg.seq) % (stream - cfg.seq - 1)
        x, y = data[:, j : j + cfg.seq], data[:, j + 1 : j + cfg.seq + 1]
        with cast:
            out, state = rnn(emb(x), state)
            loss = F.cross_entropy(dec(out).flatten(0, 1).float(), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        state = tuple(s.detach() for s in state)
    _sync(device)
    return steps * cfg.batch * cfg.seq / (time.perf_counter() - start)


def textrnn_trainer(cfg: Config, corpus: Path, steps: int, device: torch.device) -> float:
    """textrnn's LMTrainer on the same model; tokens/s between its first and last step events."""
    from textrnn.training.config import TrainConfig
    from textrnn.training.loop import train as train_run

    stamps: dict[int, float] = {}
    log_every = 10  # the trainer's default
    # Two step events bound the timed steps. On CUDA the trainer reports step k's loss one
    # interval late (while step k + log_every runs), so neither may be the last event, which
    # comes at once when the loop ends: then both stamps lag by the same interval.
    timed = {log_every, steps + log_every}

    def on_event(event):
        # Synchronise only where a time is taken, as the bare loop does: a sync at every
        # event would stall the GPU queue and charge the benchmark's cost to the trainer.
        if event.kind == "step" and event.step in timed:
            _sync(device)
            stamps[event.step] = time.perf_counter()

    config = TrainConfig(
        corpus=[str(corpus)], model="lstm", batch_size=cfg.batch, seq_len=cfg.seq, lr=1e-3, clip=1.0,
        # the bare loop's work exactly: fixed windows of seq tokens, no dropout (the data-driven
        # defaults would add dropout and vary the window length, which is other work)
        sampling="fixed", model_options={"embedding_dim": cfg.embedding, "hidden_size": cfg.hidden,
                                         "num_layers": cfg.layers, "dropout": 0.0, "embedding_dropout": 0.0,
                                         "output_dropout": 0.0},
        max_steps=steps + 3 * log_every, eval_every=10**9, log_every=log_every, device=device.type,
        precision=cfg.precision, warmup_steps=0, valid_fraction=0.02,
    )
    with tempfile.TemporaryDirectory() as tmp:
        train_run("lm", config, Path(tmp) / "run", on_event=on_event)
    first, last = min(stamps), max(stamps)  # (the trainer itself reads its loss every log_every steps)
    return (last - first) * cfg.batch * cfg.seq / (stamps[last] - stamps[first])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run (default: 20 CPU, 100 GPU)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per side; the best is kept")
    parser.add_argument("--json", action="store_true", help="one JSON object per configuration")
    parser.add_argument("--only", default=None, help="run only configurations whose name contains this")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    configs = GPU_CONFIGS if device.type == "cuda" else CPU_CONFIGS
    steps = args.steps or (100 if device.type == "cuda" else 20)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in configs:
            if args.only and args.only not in cfg.name:
                continue
            corpus = Path(tmp) / f"corpus-{cfg.vocab}.txt"
            if not corpus.exists():
                write_corpus(corpus, cfg.vocab, max(2_000_000, cfg.batch * cfg.seq * (steps + 20) * 2))
            from textrnn_char import CharTokenizer

            text = corpus.read_text(encoding="utf-8")
            tokens = torch.tensor(CharTokenizer.train([text]).encode(text), dtype=torch.long)
            bare, ours = [], []
            for _ in range(args.repeats):
                bare.append(bare_loop(cfg, tokens, steps, device))
                ours.append(textrnn_trainer(cfg, corpus, steps, device))
            row = {"config": cfg.name, "device": name, "textrnn_tokens_per_s": round(max(ours)),
                   "bare_tokens_per_s": round(max(bare)), "ratio": round(max(ours) / max(bare), 4)}
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(f"{row['config']:<48} textrnn {row['textrnn_tokens_per_s']:>10,} tok/s   bare "
                      f"{row['bare_tokens_per_s']:>10,} tok/s   ratio {row['ratio']:.3f}   [{name}]", flush=True)


if __name__ == "__main__":
    sys.exit(main())

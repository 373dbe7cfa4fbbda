"""The bare PyTorch language-model loop that textrnn is measured against, as a library.

It is the loop of ``../shared/reference/bare_lm.py`` (contiguous streams with carried,
detached state, or random windows with zero state; PyTorch's default initialisation;
dropout on the embedding output, between layers and on the RNN output; AdamW with its
default betas and decoupled weight decay on every parameter; gradient-norm clipping at
1.0; no warm-up; cosine from lr to 0.1 lr; mean cross-entropy), written so that a test
can drive it step by step:

* :func:`train_bare` takes token ids (so textrnn's own tokenizer can feed both sides) and
  returns the loss of every step;
* the schedule follows the step count (``steps=N``) or the wall clock (``budget_s=S``),
  as the shared script does.

``tests/unit/test_reference_equivalence.py`` trains textrnn with the settings that mirror
this loop and checks that the two loss curves agree step for step.

    python benchmarks/bare_lm.py streams CORPUS VALID BUDGET_S [--tokens chars|words] [--emb 64 ...]

prints the same JSON line as the shared script.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BareLM(nn.Module):
    def __init__(self, vocab: int, emb: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, layers, batch_first=True, dropout=dropout)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, h=None):
        y, h = self.rnn(self.drop(self.emb(x)), h)
        return self.head(self.drop(y)), h


def load(path: str, vocab: dict | None, words: bool) -> tuple[torch.Tensor, dict]:
    """Token ids of a file: characters, or whitespace words with ``<eos>`` per line."""
    text = open(path, encoding="utf-8").read()
    items = [t for line in text.splitlines() for t in line.split() + ["<eos>"]] if words else list(text)
    if vocab is None:
        vocab = {t: i for i, t in enumerate(sorted(set(items) | {"<unk>"}))}
    unk = vocab["<unk>"]
    return torch.tensor([vocab.get(t, unk) for t in items]), vocab


@torch.no_grad()
def score(model: BareLM, data: torch.Tensor, streams: int, device: torch.device, bf16: bool = False) -> float:
    """Mean loss over ``data`` read as ``streams`` contiguous streams with carried state."""
    model.eval()
    n = (len(data) - 1) // streams
    x = data[: streams * n].view(streams, n).to(device)
    y = data[1 : streams * n + 1].view(streams, n).to(device)
    h, total = None, 0.0
    for i in range(0, n, 512):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits, h = model(x[:, i : i + 512], h)
        total += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y[:, i : i + 512].reshape(-1),
                                 reduction="sum").item()
    model.train()
    return total / (streams * n)


def cosine(lr: float, progress: float) -> float:
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train_bare(train: torch.Tensor, vocab_size: int, mode: str = "streams", *, steps: int | None = None,
               budget_s: float | None = None, emb: int = 64, hidden: int = 256, layers: int = 2,
               dropout: float = 0.1, batch: int = 32, seq: int = 128, lr: float = 3e-3, wd: float = 0.01,
               seed: int = 0, device: str = "cpu", bf16: bool = False, on_eval=None):
    """Train the bare loop; returns ``(model, losses)`` with the loss of every step.

    ``on_eval(model, step)`` is called every 200 steps on a GPU, as the shared script does.
    """
    if (steps is None) == (budget_s is None):
        raise ValueError("give steps or budget_s")
    dev = torch.device(device)
    torch.manual_seed(seed)
    model = BareLM(vocab_size, emb, hidden, layers, dropout).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    n = (len(train) - 1) // batch
    X, Y = train[: batch * n].view(batch, n).to(dev), train[1 : batch * n + 1].view(batch, n).to(dev)
    on_device = train.to(dev)
    t0, step, pos, h, losses = time.perf_counter(), 0, 0, None, []
    while True:
        elapsed = time.perf_counter() - t0
        if (steps is not None and step >= steps) or (budget_s is not None and elapsed >= budget_s):
            break
        progress = step / steps if steps is not None else elapsed / budget_s
        for group in opt.param_groups:
            group["lr"] = cosine(lr, progress)
        if mode == "streams":
            if pos + seq > n:
                pos, h = 0, None
            x, y = X[:, pos : pos + seq], Y[:, pos : pos + seq]
            pos += seq
            h = tuple(t.detach() for t in h) if h is not None else None
        else:
            ix = torch.randint(len(on_device) - seq - 1, (batch,), device=dev)
            w = on_device[ix[:, None] + torch.arange(seq + 1, device=dev)]
            x, y, h = w[:, :-1], w[:, 1:], None
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            logits, h = model(x, h)
        loss = F.cross_entropy(logits.float().reshape(-1, vocab_size), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        losses.append(loss.detach())
        if on_eval is not None and dev.type == "cuda" and step % 200 == 0:
            on_eval(model, step)
    return model, [float(v) for v in losses]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["streams", "random"])
    p.add_argument("corpus")
    p.add_argument("valid")
    p.add_argument("budget", type=float)
    p.add_argument("--tokens", default="chars", choices=["chars", "words"])
    for k, v in dict(emb=64, hidden=256, layers=2, batch=32, seq=128, seed=0).items():
        p.add_argument(f"--{k}", type=int, default=v)
    for k, v in dict(dropout=0.1, lr=3e-3, wd=0.01).items():
        p.add_argument(f"--{k}", type=float, default=v)
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true")
    a = p.parse_args()
    dev = torch.device(a.device)
    train, vocab = load(a.corpus, None, a.tokens == "words")
    valid, _ = load(a.valid, vocab, a.tokens == "words")
    best = [(float("inf"), 0)]
    streams = 16 if dev.type == "cuda" else 8

    def on_eval(model, step):
        best[0] = min(best[0], (score(model, valid, streams, dev, a.bf16), step))

    model, losses = train_bare(train, len(vocab), a.mode, budget_s=a.budget, emb=a.emb, hidden=a.hidden,
                               layers=a.layers, dropout=a.dropout, batch=a.batch, seq=a.seq, lr=a.lr, wd=a.wd,
                               seed=a.seed, device=a.device, bf16=a.bf16, on_eval=on_eval)
    final = score(model, valid, streams, dev, a.bf16)
    best_loss, best_step = min(best[0], (final, len(losses)))
    print(json.dumps({"mode": a.mode, "steps": len(losses), "valid_loss": round(final, 4),
                      "best_valid_loss": round(best_loss, 4), "best_step": best_step,
                      "valid_bits": round(final / math.log(2), 4), "valid_ppl": round(math.exp(final), 2)}))


if __name__ == "__main__":
    main()

"""Seconds from `textrnn train lm` starting to its first training step, first and second run.

The first run trains the tokenizer and tokenizes the corpus into a fresh cache; the
second finds both in the cache. Beside them, in the same run, two bare PyTorch floors:
`python -c "import torch"`, and a script that imports torch, builds an LSTM and takes
one AdamW step (the first optimizer step imports torch._dynamo, which every torch
optimizer does). The second is what any PyTorch training program pays before its
first step is done.

    python benchmarks/startup_time.py [CORPUS] [--tokenizer bpe] [--vocab-size 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "tinyshakespeare" / "input.txt"

# Bare PyTorch from process start to one finished training step of textrnn's default LM
# (embedding 128, 2x256 LSTM, batch 32, sequence 128) over VOCAB tokens.
BARE_FIRST_STEP = """
import torch
emb, rnn, out = torch.nn.Embedding(VOCAB, 128), torch.nn.LSTM(128, 256, 2, batch_first=True), torch.nn.Linear(256, VOCAB)
params = [*emb.parameters(), *rnn.parameters(), *out.parameters()]
opt = torch.optim.AdamW(params, lr=3e-3)
x = torch.randint(0, VOCAB, (32, 129))
h, _ = rnn(emb(x[:, :-1]))
torch.nn.functional.cross_entropy(out(h).flatten(0, 1), x[:, 1:].flatten()).backward()
opt.step()
"""


def until_first_step(cmd: list[str], env_cache: str) -> float:
    """Launch ``cmd``; return the seconds until its stderr shows the first step's progress line."""
    import os

    env = {**os.environ, "TEXTRNN_CACHE_DIR": env_cache, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    elapsed = None
    for line in proc.stderr:
        if elapsed is None and line.startswith("step 1"):
            elapsed = time.perf_counter() - start
    proc.wait()
    if elapsed is None:
        raise SystemExit(f"no step line from: {' '.join(cmd)}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_CORPUS))
    parser.add_argument("--tokenizer", default="bpe")
    parser.add_argument("--vocab-size", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "textrnn", "train", "lm", args.corpus, "--out", f"{tmp}/run", "--overwrite",
               "--tokenizer", args.tokenizer, "--vocab-size", str(args.vocab_size), "--max-steps", "1",
               "--log-every", "1", "--sample-tokens", "0", "--device", "cpu"]
        first = until_first_step(cmd, f"{tmp}/cache")
        second = until_first_step(cmd, f"{tmp}/cache")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        torch_import = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE_FIRST_STEP.replace("VOCAB", str(args.vocab_size))], check=True)
        bare_step = time.perf_counter() - start
    row = {"tokenizer": args.tokenizer, "first_run_s": round(first, 3), "second_run_s": round(second, 3),
           "import_torch_s": round(torch_import, 3), "bare_first_step_s": round(bare_step, 3),
           "second_run_minus_bare_s": round(second - bare_step, 3)}
    if args.json:
        print(json.dumps(row))
    else:
        print(f"command start to first step: first run {first:.2f} s, second run {second:.2f} s "
              f"(python -c 'import torch' alone: {torch_import:.2f} s; bare PyTorch to its first AdamW step: "
              f"{bare_step:.2f} s)")


if __name__ == "__main__":
    main()

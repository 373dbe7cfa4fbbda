"""Classification throughput: ``textrnn classify`` paths against a bare batched forward.

Usage::

    python benchmarks/classify_speed.py [RUN_DIR] [--data ../shared/corpora/sst2/dev.tsv] [--repeats 5] [--threads N]

Without RUN_DIR a small bilstm is trained for one epoch on SST-2 train first (its
accuracy does not matter here, only its shape). Printed side by side, in one process:

* ``bare forward``: the same model called on pre-tokenized, pre-padded batches of 256
  in file order (no sorting), under inference mode: the floor any wrapper pays for;
* ``LoadedRun.classify``: tokenization, sort by length, batching, forward, softmax and
  the per-text dicts;
* ``textrnn classify --file`` as a subprocess, start-up included (one run).

This is a benchmark, not a test: it prints lines per second and ratios.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SST2 = REPO.parent / "shared" / "corpora" / "sst2"


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", type=Path, help="classifier run (default: train a small one)")
    parser.add_argument("--data", type=Path, default=SST2 / "dev.tsv", help="labelled data whose texts are classified")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats; the best is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    import textrnn
    from textrnn.classification import encode_texts, pad_batch
    from textrnn.data.labelled import read_texts

    tmp = None
    run_dir = args.run
    if run_dir is None:
        tmp = tempfile.TemporaryDirectory()
        run_dir = Path(tmp.name) / "run"
        print(f"training a small bilstm on {SST2 / 'train.tsv'} for one epoch ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "textrnn", "train", "classifier", str(SST2 / "train.tsv"),
                        "--out", str(run_dir), "--epochs", "1"], check=True, stdout=subprocess.DEVNULL)

    texts = read_texts(args.data)
    run = textrnn.load(run_dir)
    model = run.model
    encoded, _ = encode_texts(run.tokenizer, texts, run.meta.get("max_length", 1000))
    batches = [pad_batch(encoded[i : i + 256]) for i in range(0, len(encoded), 256)]

    def bare():
        with torch.inference_mode():
            for ids, lengths in batches:
                model(ids, lengths)

    bare()
    run.classify(texts[:300])  # warm up
    n = len(texts)
    t_bare = best_of(args.repeats, bare)
    t_api = best_of(args.repeats, lambda: run.classify(texts))
    start = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads)) if args.threads else None
    subprocess.run([sys.executable, "-m", "textrnn", "classify", str(run_dir), "--file", str(args.data)],
                   check=True, stdout=subprocess.DEVNULL, env=env)
    t_cli = time.perf_counter() - start

    print(f"{n} texts from {args.data}; model {run.meta['model']} {run.meta['model_options']}; "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'path':<34} {'seconds':>8} {'lines/s':>10} {'vs bare':>8}")
    for name, seconds in (("bare forward (file order, b=256)", t_bare), ("LoadedRun.classify", t_api),
                          ("textrnn classify --file (process)", t_cli)):
        print(f"{name:<34} {seconds:>8.3f} {n / seconds:>10.0f} {seconds / t_bare:>7.2f}x")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()

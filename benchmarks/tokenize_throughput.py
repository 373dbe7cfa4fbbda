"""Tokenization throughput: textrnn's corpus pipeline against sentencepiece's own ``encode``.

Both sides encode the same N MB file (tiny shakespeare repeated, or ``--corpus``) with
the same bpe model (vocabulary 2000, trained once on the first 1 MB, outside the timing):

* **textrnn**: the pipeline that ``textrnn train lm`` runs on a cache miss: stream the
  file in chunks (UTF-8 decoding, newline-aligned chunks), ``tokenizer.encode`` each
  chunk (newlines and U+2581 handled losslessly), append the ids as uint16 to a file;
  with as many processes as ``train lm`` would use (one, for bpe: sentencepiece
  threads itself; ``--workers N`` forces a pool of N processes).
* **sentencepiece**: read the same file in the same 1 MB chunks, split each at newlines
  (sentencepiece cannot hold one inside a sentence) and call
  ``SentencePieceProcessor.encode(lines, num_threads=...)``; the ids are discarded.

Runs alternate and each side keeps its best of ``--repeats`` (a shared machine is noisy).
The ratio is textrnn's throughput over sentencepiece's (goal: at least 0.8). This is a
benchmark, not a test.

    python benchmarks/tokenize_throughput.py [--mb 100] [--repeats 1] [--workers N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from textrnn.data.lm_data import available_cores, default_workers, encode_stream
from textrnn.data.sources import CHUNK_CHARS, open_source
from textrnn.tokenizers import save_tokenizer, train_tokenizer

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tinyshakespeare" / "input.txt"


def build_corpus(path: Path, megabytes: float, seed_file: Path | None) -> int:
    if seed_file is not None and seed_file.is_file():
        block = seed_file.read_bytes()
    else:  # a pseudo-English stand-in when ../shared is absent
        import random

        rng = random.Random(0)
        words = "the of and to in a is that for it as was with be by on not he I this are or his".split()
        lines = (" ".join(rng.choice(words) for _ in range(rng.randint(3, 14))) for _ in range(30_000))
        block = "\n".join(lines).encode()
    target = int(megabytes * 1e6)
    written = 0
    with open(path, "wb") as f:
        while written < target:
            piece = block[: target - written]
            f.write(piece)
            written += len(piece)
    return written


def run_textrnn(path: Path, tokenizer, tokenizer_dir: Path, out: Path, workers: int) -> float:
    source = open_source([path])
    begin = time.perf_counter()
    stats = encode_stream(((0, c) for c in source.chunks()), tokenizer, np.dtype("<u2"), [out], workers=workers,
                          tokenizer_dir=tokenizer_dir)
    seconds = time.perf_counter() - begin
    assert stats[0]["tokens"] == out.stat().st_size // 2
    return seconds


def run_sentencepiece(path: Path, sp, threads: int) -> tuple[float, int]:
    begin = time.perf_counter()
    tokens = 0
    with open(path, encoding="utf-8") as f:
        while True:
            text = f.read(CHUNK_CHARS)
            if not text:
                break
            lines = text.split("\n")
            for ids in sp.encode(lines, num_threads=threads):
                tokens += len(ids)
            tokens += len(lines) - 1  # textrnn's newline tokens
    return time.perf_counter() - begin, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="megabytes of text to encode (default 100)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per side; the best is kept")
    parser.add_argument("--workers", type=int, default=None, help="textrnn tokenizer processes (default: auto)")
    parser.add_argument("--corpus", type=Path, default=SHAKESPEARE, help="text repeated to build the corpus")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()

    cores = available_cores()
    with tempfile.TemporaryDirectory(prefix="textrnn-bench-") as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus.txt"
        size = build_corpus(corpus, args.mb, args.corpus)
        with open(corpus, encoding="utf-8") as f:
            sample = f.read(1_000_000)
        tokenizer = train_tokenizer("bpe", [sample], vocab_size=2000)
        workers = args.workers or default_workers(tokenizer, size)  # what `train lm` would use
        save_tokenizer(tokenizer, tmp / "tokenizer")
        threads = tokenizer._threads  # the thread count textrnn's encode gives sentencepiece
        best = {"sentencepiece": float("inf"), "textrnn": float("inf")}
        for _ in range(args.repeats):
            seconds, sp_tokens = run_sentencepiece(corpus, tokenizer._sp, threads)
            best["sentencepiece"] = min(best["sentencepiece"], seconds)
            best["textrnn"] = min(best["textrnn"], run_textrnn(corpus, tokenizer, tmp / "tokenizer", tmp / "ids.bin",
                                                               workers))
            textrnn_tokens = (tmp / "ids.bin").stat().st_size // 2
            os.unlink(tmp / "ids.bin")
    rows = [
        {"name": "sentencepiece", "mb": size / 1e6, "seconds": best["sentencepiece"], "threads": threads,
         "tokens": sp_tokens, "mb_per_s": size / 1e6 / best["sentencepiece"]},
        {"name": "textrnn", "mb": size / 1e6, "seconds": best["textrnn"], "workers": workers,
         "tokens": textrnn_tokens, "mb_per_s": size / 1e6 / best["textrnn"]},
    ]
    ratio = best["sentencepiece"] / best["textrnn"]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        print(json.dumps({"ratio": ratio, "cores": cores, "goal": 0.8}))
        return
    for row in rows:
        extra = f"{row['threads']} threads" if "threads" in row else f"{row['workers']} processes"
        print(f"{row['name']:>13}: {row['mb']:.1f} MB in {row['seconds']:.2f} s = {row['mb_per_s']:.2f} MB/s "
              f"({row['tokens']:,} tokens, {extra})")
    print(f"ratio (textrnn / sentencepiece throughput): {ratio:.2f}  (goal >= 0.8; {cores} cores, shared machine)")


if __name__ == "__main__":
    main()

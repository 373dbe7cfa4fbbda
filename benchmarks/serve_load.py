"""Load on ``textrnn serve``: 16 clients in parallel against one client issuing requests one at a time.

One CPU LSTM 2x256 char run is served by a real ``textrnn serve`` process on 127.0.0.1.
Each request asks ``/v1/completions`` for ``--tokens`` tokens (no stop sequence) with its
own seed. The same requests run twice, side by side in this one run:

* sequential: one client, ``--requests`` x ``--clients`` requests one after another;
* parallel: ``--clients`` clients at once, ``--requests`` requests each.

It prints total generated tokens per second of both, their ratio (the issue's goal: at
least 4x), p50/p99 request latency, the error count, and checks every seeded text against
``textrnn.load(run).generate`` (what ``textrnn generate`` runs) and ``--cli-checks`` of them
against the ``textrnn generate`` command itself. Without ``--run`` it first trains the
run: 2x256 LSTM, ``--train-steps`` steps on tiny-shakespeare (or the embedded corpus).
This is a benchmark, not a test.

    python benchmarks/serve_load.py [--run RUN] [--clients 16] [--requests 20] [--tokens 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tinyshakespeare" / "input.txt"
PROMPT = "ROMEO:"


def train_run(out: Path, steps: int) -> Path:
    corpus = [str(SHAKESPEARE)] if SHAKESPEARE.exists() else []  # else the embedded corpus
    command = [sys.executable, "-m", "textrnn", "train", "lm", *corpus, "--out", str(out), "--model", "lstm",
               "--hidden-size", "256", "--embedding-dim", "64", "--num-layers", "2", "--max-steps", str(steps),
               "--eval-every", str(steps), "--batch-size", "16", "--seq-len", "64", "--sample-tokens", "0"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: Path, clients: int, tokens: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "textrnn", "serve", f"lm={run}", "--port", str(port),
                               "--max-batch", str(max(16, clients)), "--max-tokens", str(tokens),
                               "--log-level", "warning"])
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("textrnn serve did not start")


def request(client: httpx.Client, url: str, seed: int, tokens: int) -> tuple[float, dict | None]:
    body = {"model": "lm", "prompt": PROMPT, "max_tokens": tokens, "seed": seed, "temperature": 1.0}
    start = time.perf_counter()
    try:
        response = client.post(url + "/v1/completions", json=body, timeout=600)
        data = response.json() if response.status_code == 200 else None
    except httpx.HTTPError:
        data = None
    return time.perf_counter() - start, data


def phase(url: str, clients: int, per_client: int, tokens: int, seed0: int) -> dict:
    """``clients`` threads, each issuing ``per_client`` requests one after another."""
    latencies, texts, errors, generated = [], {}, [0], [0]
    lock = threading.Lock()

    def client_loop(c: int) -> None:
        with httpx.Client() as client:
            for i in range(per_client):
                seed = seed0 + c * per_client + i
                seconds, data = request(client, url, seed, tokens)
                with lock:
                    latencies.append(seconds)
                    if data is None:
                        errors[0] += 1
                    else:
                        texts[seed] = data["choices"][0]["text"]
                        generated[0] += data["usage"]["completion_tokens"]

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    return {"clients": clients, "requests": len(latencies), "errors": errors[0], "tokens": generated[0],
            "seconds": round(wall, 3), "tokens_per_s": round(generated[0] / wall, 1),
            "p50_s": round(statistics.median(latencies), 4),
            "p99_s": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 4), "texts": texts}


def check_seeds(run: Path, texts: dict[int, str], tokens: int, cli_checks: int) -> dict:
    import textrnn

    loaded = textrnn.load(run)
    mismatched = [seed for seed, text in texts.items()
                  if loaded.generate(prompt=PROMPT, max_tokens=tokens, seed=seed)[0] != text]
    cli_mismatched = []
    for seed in list(texts)[:cli_checks]:
        out = subprocess.run([sys.executable, "-m", "textrnn", "generate", str(run), "--prompt", PROMPT,
                              "--max-tokens", str(tokens), "--seed", str(seed), "--json"],
                             check=True, capture_output=True, text=True).stdout
        if json.loads(out)["text"] != texts[seed]:
            cli_mismatched.append(seed)
    return {"checked": len(texts), "mismatched": mismatched, "cli_checked": min(cli_checks, len(texts)),
            "cli_mismatched": cli_mismatched}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="An LSTM LM run to serve; default: train a 2x256 one first.")
    parser.add_argument("--train-steps", type=int, default=30, help="Training steps of the run made without --run.")
    parser.add_argument("--clients", type=int, default=16, help="Parallel clients.")
    parser.add_argument("--requests", type=int, default=20, help="Requests per client.")
    parser.add_argument("--tokens", type=int, default=200, help="Tokens per request.")
    parser.add_argument("--cli-checks", type=int, default=3, help="Seeded texts also checked with `textrnn generate`.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or train_run(Path(tmp) / "lstm-2x256", args.train_steps)
        server, url = start_server(run, args.clients, args.tokens)
        try:
            request(httpx.Client(), url, 0, args.tokens)  # warm-up: the first request pays one-off costs
            total = args.clients * args.requests
            sequential = phase(url, 1, total, args.tokens, seed0=1)
            parallel = phase(url, args.clients, args.requests, args.tokens, seed0=1)
        finally:
            server.terminate()
            code = server.wait(60)
        texts = {**sequential.pop("texts")}
        parallel_texts = parallel.pop("texts")
        same_as_sequential = sum(parallel_texts.get(seed) == text for seed, text in texts.items())
        seeds = check_seeds(run, parallel_texts, args.tokens, args.cli_checks)
    result = {"sequential": sequential, "parallel": parallel,
              "ratio": round(parallel["tokens_per_s"] / sequential["tokens_per_s"], 2),
              "parallel_text_equals_sequential": f"{same_as_sequential}/{len(texts)}",
              "seeded_texts_vs_generate": seeds, "server_exit_code": code}
    if args.json:
        print(json.dumps(result))
        return
    for name in ("sequential", "parallel"):
        p = result[name]
        print(f"{name:>10}: {p['clients']:2d} client(s) {p['requests']:4d} requests {p['tokens']:7d} tokens "
              f"in {p['seconds']:7.2f} s = {p['tokens_per_s']:8.1f} tokens/s  p50 {p['p50_s']:.3f} s  "
              f"p99 {p['p99_s']:.3f} s  errors {p['errors']}")
    print(f"     ratio: {result['ratio']}x (parallel / sequential tokens per second; goal >= 4x)")
    print(f"     seeds: parallel texts equal sequential ones {result['parallel_text_equals_sequential']}; "
          f"equal textrnn.load(run).generate {seeds['checked'] - len(seeds['mismatched'])}/{seeds['checked']}; "
          f"equal `textrnn generate` {seeds['cli_checked'] - len(seeds['cli_mismatched'])}/{seeds['cli_checked']}")
    print(f"    server: exit code {code} after SIGTERM")


if __name__ == "__main__":
    main()

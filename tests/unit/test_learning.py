"""A small LSTM learns a Markov source down to (close to) its exact entropy rate."""

from __future__ import annotations

import math

import numpy as np

from textrnn.training.config import TrainConfig
from textrnn.training.loop import train as train_run

SYMBOLS = "abcdefgh"


def markov_source(seed: int = 0):
    """A random order-2 Markov chain over 8 symbols and its exact entropy rate (nats/char)."""
    rng = np.random.default_rng(seed)
    k = len(SYMBOLS)
    transitions = rng.dirichlet(np.full(k, 0.3), size=(k, k))  # P(next | prev2, prev1)
    # Stationary distribution over pairs, by power iteration on the pair chain.
    pair = np.full((k, k), 1.0 / k**2)
    for _ in range(500):
        pair = np.einsum("ab,abc->bc", pair, transitions)
    entropy = -np.sum(pair[..., None] * transitions * np.log(transitions + 1e-300))
    return transitions, float(entropy)


def sample(transitions, n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    k = len(SYMBOLS)
    out = [0, 1]
    cumulative = transitions.cumsum(-1)
    draws = rng.random(n)
    for u in draws:
        row = cumulative[out[-2], out[-1]]
        out.append(min(int(np.searchsorted(row, u)), k - 1))
    return "".join(SYMBOLS[i] for i in out[2:])


def test_lstm_reaches_markov_entropy(tmp_path):
    transitions, entropy = markov_source()
    assert 0.5 < entropy < 1.6  # a source that is neither trivial nor uniform
    train = tmp_path / "train.txt"
    valid = tmp_path / "valid.txt"
    train.write_text(sample(transitions, 150_000, seed=1))
    valid.write_text(sample(transitions, 20_000, seed=2))
    config = TrainConfig(
        corpus=[str(train)], valid=str(valid), model_options={"embedding_dim": 16, "hidden_size": 64, "num_layers": 1},
        batch_size=32, seq_len=64, lr=1e-2, max_steps=400, eval_every=200, warmup_steps=20, seed=0,
    )
    train_run("lm", config, tmp_path / "run")
    import textrnn

    metrics = textrnn.load(tmp_path / "run").score(valid.read_text())
    assert metrics["loss"] < entropy + 0.10, (metrics["loss"], entropy)
    assert metrics["loss"] > entropy - 0.05  # held-out loss cannot beat the true entropy by much
    assert math.isclose(metrics["bits_per_char"], metrics["loss"] / math.log(2), rel_tol=1e-6)

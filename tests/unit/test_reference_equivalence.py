"""textrnn's training step is the bare PyTorch loop's, step for step, when given its settings.

``benchmarks/bare_lm.py`` is the reference loop (the loop of ../shared/reference/bare_lm.py
as a library). With the settings that mirror it (PyTorch's initialisation, AdamW's default
betas, no warm-up, cosine to 0.1 of the peak, dropout in the same three places, the same
streams in the same order, the same seed) textrnn's per-step training losses must equal the
reference's for 200 steps. Every other default of textrnn is then a measured departure
from this loop (docs/recipes.md, "Defaults and how they were chosen").
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from tests.conftest import REPO
from textrnn.data.lm_data import prepare_lm_data
from textrnn.training.config import TrainConfig
from textrnn.training.loop import train as train_run

sys.path.insert(0, str(REPO / "benchmarks"))
from bare_lm import train_bare  # noqa: E402

STEPS = 200
SIZES = dict(emb=16, hidden=48, layers=2, dropout=0.1, batch=8, seq=32, lr=3e-3, wd=0.01, seed=0)


def mirrored_config(corpus, **overrides) -> TrainConfig:
    """textrnn settings that reproduce ``train_bare`` with SIZES."""
    model = dict(embedding_dim=SIZES["emb"], hidden_size=SIZES["hidden"], num_layers=SIZES["layers"],
                 dropout=SIZES["dropout"], embedding_dropout=SIZES["dropout"], output_dropout=SIZES["dropout"],
                 tie_weights=False, init="torch")
    settings = dict(model="lstm", model_options=model, tokenizer="char", corpus=[str(corpus)],
                    batch_size=SIZES["batch"], seq_len=SIZES["seq"], sampling="fixed", lr=SIZES["lr"],
                    adam_beta2=0.999, weight_decay=SIZES["wd"], warmup_steps=0, min_lr_ratio=0.1, clip=1.0,
                    max_steps=STEPS, eval_every=10**6, log_every=1, seed=SIZES["seed"], device="cpu",
                    precision="fp32")  # the bare loop's; an AMX CPU would otherwise default to bf16
    return TrainConfig(**{**settings, **overrides})


def textrnn_losses(config: TrainConfig, run_dir) -> list[float]:
    train_run("lm", config, run_dir)
    rows = [json.loads(line) for line in open(run_dir / "metrics.jsonl")]
    return [r["loss"] for r in rows if r["kind"] == "train"]


def bare_losses(config: TrainConfig) -> list[float]:
    data = prepare_lm_data(config)  # textrnn's tokenizer and split, so both read the same ids
    ids = torch.from_numpy(np.asarray(data.train, dtype=np.int64))
    _, losses = train_bare(ids, data.tokenizer.vocab_size, "streams", steps=STEPS,
                           **{k: v for k, v in SIZES.items()})
    return losses


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from tests.conftest import english_like

    path = tmp_path_factory.mktemp("equivalence") / "corpus.txt"
    path.write_text(english_like(60_000, seed=3), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(corpus):
    torch.set_num_threads(1)  # one thread: the same reduction order on every machine
    return bare_losses(mirrored_config(corpus))


def test_mirrored_textrnn_matches_the_bare_loop_step_for_step(corpus, reference, tmp_path):
    ours = textrnn_losses(mirrored_config(corpus), tmp_path / "run")
    assert len(ours) == len(reference) == STEPS
    gap = np.abs(np.array(ours) - np.array(reference))
    assert gap.max() < 1e-5, f"first departure at step {int(np.argmax(gap > 1e-5))}: {gap.max():.3g}"
    assert reference[-1] < reference[0] - 0.5  # both learned: the comparison is not of two flat lines


@pytest.mark.parametrize("departure", [
    {"adam_beta2": 0.99},
    {"warmup_steps": 10},
    {"min_lr_ratio": 0.05},
    {"sampling": "streams"},
    {"init": "textrnn"},
])
def test_each_departure_from_the_bare_loop_is_visible(corpus, reference, tmp_path, departure):
    """The equivalence above is not vacuous: each setting textrnn may change moves the curve."""
    config = mirrored_config(corpus)
    if "init" in departure:
        config = mirrored_config(corpus, model_options={**config.model_options, **departure})
    else:
        config = mirrored_config(corpus, **departure)
    ours = textrnn_losses(config, tmp_path / "run")
    assert np.abs(np.array(ours) - np.array(reference)).max() > 1e-4

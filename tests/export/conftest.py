"""Runs shared by the export tests (trained once per session: training is the slow part)."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import english_like

from .runs import scramble_weights, train_classifier, train_lm


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(english_like(20_000), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tied_lm_run(tmp_path_factory, corpus):
    """A char LSTM, 2 x 16 units, with tied input and output embeddings and scrambled weights."""
    run = train_lm(tmp_path_factory.mktemp("lm") / "run", corpus, "--hidden-size", "16", "--embedding-dim", "16",
                   "--num-layers", "2", "--tie-weights")
    scramble_weights(run, seed=2)  # a seed whose greedy text keeps changing from both test prompts
    return run


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory):
    return train_classifier(tmp_path_factory.mktemp("clf") / "run")

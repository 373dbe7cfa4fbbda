"""Bits per character for word and subword runs: the loss per token, in bits, times tokens per
character. Computing bits per token in its place would go unseen for a character run (one token
per character); a word or bpe token covers several characters, so there the two differ."""

from __future__ import annotations

import json
import math

import pytest

import textrnn
from tests.conftest import english_like

from .helpers import TINY, run_cli


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    root = tmp_path_factory.mktemp("bpc")
    train, valid = root / "train.txt", root / "valid.txt"
    train.write_text(english_like(30_000, seed=4), encoding="utf-8")
    valid.write_text(english_like(4_000, seed=5), encoding="utf-8")
    return train, valid


@pytest.mark.parametrize("tokenizer", [["word"], ["bpe", "--vocab-size", "400"]], ids=["word", "bpe"])
def test_bits_per_char_counts_characters_not_tokens(texts, tmp_path, tokenizer):
    train, valid = texts
    run = tmp_path / "run"
    result = run_cli("train", "lm", train, "--valid", valid, "--out", run, *TINY, "--num-layers", "1",
                     "--tokenizer", *tokenizer, "--max-steps", "10", "--precision", "fp32")
    assert result.exit_code == 0, (result.stderr, result.exception)

    text = valid.read_text(encoding="utf-8")
    tokens = len(textrnn.load(run).tokenizer.encode(text))  # counted here, not taken from the run
    chars = len(text)
    assert tokens < 0.5 * chars  # several characters a token, so the two measures are far apart

    # textrnn evaluate, on the run's own validation text and on the same file given explicitly
    for args in ([], [valid]):
        result = run_cli("evaluate", run, *args, "--json")
        assert result.exit_code == 0, (result.stderr, result.exception)
        metrics = json.loads(result.stdout)
        assert (metrics["tokens"], metrics["chars"]) == (tokens, chars)
        assert metrics["bits_per_token"] == pytest.approx(metrics["loss"] / math.log(2), rel=1e-9)
        assert metrics["bits_per_char"] == pytest.approx(metrics["loss"] / math.log(2) * tokens / chars, rel=1e-9)

    # the evaluations during training (metrics.jsonl) use the same measure
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    assert evals
    for record in evals:
        assert record["valid_bpc"] == pytest.approx(record["valid_loss"] / math.log(2) * tokens / chars, rel=1e-6)

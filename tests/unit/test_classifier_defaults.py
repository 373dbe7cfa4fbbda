"""The classifier's data-driven defaults: what a tiny and an SST-2-sized data set get, and flags win."""

from __future__ import annotations

import pytest

from textrnn.training.classifier_config import ClassifierConfig
from textrnn.training.classifier_defaults import DataProfile, resolve

pytest.importorskip("textrnn_classifier")
from textrnn_classifier import RecurrentClassifierOptions  # noqa: E402

from textrnn.cli.common import load_plugins  # noqa: E402

# SST-2's training set as measured (6,920 texts, 14,828 distinct words), and a 20-review set
SST2 = DataProfile(train_texts=6920, train_words=133555, distinct_words=14828, distinct_chars=66, valid_texts=872)
TINY = DataProfile(train_texts=18, train_words=2536, distinct_words=1153, distinct_chars=77, valid_texts=2)


def resolved(profile, **given):
    load_plugins()
    from textrnn.registry import get_tokenizer

    config = ClassifierConfig(data="x.tsv", valid="y.tsv", **given)
    tokenizer = get_tokenizer(config.tokenizer or "unigram").cls
    return resolve(config, profile, tokenizer_class=tokenizer, options_class=RecurrentClassifierOptions)


def test_sst2_sized_data_gets_the_measured_recipe():
    config, sources = resolved(SST2)
    assert (config.model, config.tokenizer, config.tokenizer_options) == ("bigru", "unigram", {"vocab_size": 8000})
    assert (config.token_dropout, config.ema, config.epochs, config.eval_every, config.warmup_steps) == \
        (0.2, 0.99, 8, 25, 50)
    assert config.model_options == {"pooling": "attention", "embedding_dropout": 0.5, "dropout": 0.5}
    assert "sqrt(6,920 / 6,920)" in sources["epochs"] and "docs/recipes.md" in sources["model"]


def test_a_tiny_data_set_gets_a_smaller_vocabulary_and_more_epochs():
    big, _ = resolved(SST2)
    small, sources = resolved(TINY)
    # 256 byte pieces + 0.55 x 1,153 distinct words: under sentencepiece's limit for this text
    assert small.tokenizer_options["vocab_size"] == 256 + round(0.55 * 1153) < big.tokenizer_options["vocab_size"]
    assert small.epochs == 40 > big.epochs  # 8 x sqrt(6920 / 18) = 157, at most 40
    assert small.eval_every == 1 and sources["eval_every"] == "once per epoch"  # one batch per epoch
    assert small.warmup_steps == 4  # a tenth of the 40 planned steps, not 50
    assert small.model == big.model and small.ema == big.ema


def test_a_large_data_set_gets_fewer_epochs_and_rarer_evaluation():
    large = DataProfile(train_texts=560_000, train_words=10**8, distinct_words=500_000, distinct_chars=200,
                        valid_texts=38_000)
    config, _ = resolved(large)
    assert config.epochs == 1 and config.tokenizer_options["vocab_size"] == 8000
    assert config.eval_every == 594  # half of 38,000 validation texts trained between evaluations


GIVEN = {  # every default, set by hand to a value the defaults would not pick
    "model": "bilstm", "tokenizer": "bpe", "token_dropout": 0.05, "ema": 0.5, "epochs": 3.0,
    "warmup_steps": 7, "eval_every": 11,
}


@pytest.mark.parametrize("name", sorted(GIVEN))
def test_an_explicit_value_wins_over_each_default(name):
    config, sources = resolved(SST2, **{name: GIVEN[name]})
    assert getattr(config, name) == GIVEN[name] and sources[name] == "set"


@pytest.mark.parametrize("name,value", [("pooling", "max"), ("dropout", 0.1), ("embedding_dropout", 0.2)])
def test_an_explicit_model_option_wins_over_the_plugin_suggestion(name, value):
    config, sources = resolved(SST2, model_options={name: value})
    assert config.model_options[name] == value and f"model_options.{name}" not in sources


def test_explicit_vocab_size_and_max_steps_win():
    config, sources = resolved(TINY, tokenizer_options={"vocab_size": 300}, max_steps=5)
    assert config.tokenizer_options == {"vocab_size": 300} and "tokenizer_options.vocab_size" not in sources
    assert config.epochs is None and sources["epochs"] == "--max-steps bounds the run"


def test_word_tokens_get_no_vocab_size_and_a_tokenizer_without_unk_no_token_dropout():
    config, sources = resolved(SST2, tokenizer="word")
    assert config.tokenizer_options == {} and config.token_dropout == 0.2

    class NoUnknown:  # a plugin tokenizer that does not override Tokenizer.unknown_ids
        from textrnn.tokenizers import Tokenizer
        unknown_ids = Tokenizer.unknown_ids

    config, sources = resolve(ClassifierConfig(data="x"), SST2, tokenizer_class=NoUnknown)
    assert config.token_dropout == 0.0 and "<unk>" in sources["token_dropout"]

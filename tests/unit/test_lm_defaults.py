"""Defaults that follow the data (textrnn.training.lm_defaults and the recurrent plugin's suggestions)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from textrnn.training import lm_defaults
from textrnn.training.config import TrainConfig
from textrnn.training.lm_defaults import DataProfile, dropout_for, resolve
from textrnn_recurrent import RecurrentLMOptions


def profile(granularity="char", tokens=1_000_000, vocab=65, device="cpu", budget=None):
    return DataProfile(granularity, tokens, vocab, device, budget)


def resolved(config=None, **kwargs):
    config = config or TrainConfig(time_budget=300)
    return resolve(config, profile(**kwargs), RecurrentLMOptions, lambda options: 900_000)


def test_unset_options_come_from_the_table_for_the_data():
    config, sources = resolved()
    row = lm_defaults.TRAINING[("char", "cpu")]
    assert all(getattr(config, k) == v for k, v in row.items())
    assert config.warmup_steps == 0 and config.min_lr_ratio == 0.1
    assert sources["lr"] == "char text on cpu"
    options = config.model_options
    assert options["tie_weights"] is False and options["embedding_dim"] == 64 and options["init"] == "torch"
    assert config.unresolved() == []


def test_an_option_the_user_set_always_wins():
    given = TrainConfig(time_budget=300, lr=1e-3, batch_size=7, sampling="fixed",
                        model_options={"dropout": 0.4, "hidden_size": 100})
    config, sources = resolved(given)
    assert (config.lr, config.batch_size, config.sampling) == (1e-3, 7, "fixed")
    assert config.model_options["dropout"] == 0.4 and config.model_options["hidden_size"] == 100
    assert sources["lr"] == sources["sampling"] == "set"
    assert "model_options.dropout" not in sources
    assert config.model_options["output_dropout"] != 0.4  # unset siblings still get their own default


def test_word_models_tie_their_embedding_and_the_gpu_gets_bigger_batches():
    config, _ = resolved(granularity="word", vocab=10_000)
    assert config.model_options["tie_weights"] is True
    assert config.model_options["embedding_dim"] == config.model_options["hidden_size"]
    assert config.seq_len == 35
    gpu, _ = resolved(device="cuda")
    assert gpu.batch_size > config.batch_size and gpu.sampling == "random"


def test_sampling_follows_how_often_the_text_is_reread():
    many, sources = resolved(TrainConfig(max_steps=10_000), tokens=100_000)
    assert many.sampling == "random" and "passes" in sources["sampling"]
    once, _ = resolved(TrainConfig(max_steps=10), tokens=10_000_000)
    assert once.sampling == "streams"
    budget, _ = resolved(TrainConfig(time_budget=60), tokens=100_000_000)
    assert budget.sampling == "streams"


def test_dropout_grows_with_parameters_per_token_and_stays_low_for_short_runs():
    assert dropout_for(800_000, 1_000_000) == pytest.approx(0.085, abs=0.01)
    assert dropout_for(12_000_000, 1_000_000) == pytest.approx(0.37, abs=0.01)
    assert dropout_for(10**9, 10) == 0.5
    short, sources = resolved(TrainConfig(max_steps=400, model_options={"hidden_size": 1024}), tokens=1_000_000)
    assert short.model_options["dropout"] == 0.1 and "1.6 passes" in sources["model_options.dropout"]
    once, sources = resolved(TrainConfig(max_steps=100, model_options={"hidden_size": 1024}), tokens=1_000_000)
    assert once.model_options["dropout"] == 0.0 and "0.4 passes" in sources["model_options.dropout"]
    long, _ = resolved(TrainConfig(max_steps=100_000, model_options={"hidden_size": 1024}), tokens=1_000_000)
    assert long.model_options["dropout"] > 0.3


def test_granularity_comes_from_the_vocabulary_size_first():
    class Word:
        granularity = "word"

        def __init__(self, size):
            self.vocab_size = size

    assert lm_defaults.granularity_of(Word(50)) == "char"  # PTB's characters through the word tokenizer
    assert lm_defaults.granularity_of(Word(10_000)) == "word"
    assert lm_defaults.granularity_of(type("Plugin", (), {"vocab_size": 4000})()) == "subword"


def test_print_config_shows_each_default_with_its_reason(small_corpus):
    out = subprocess.run([sys.executable, "-m", "textrnn", "train", "lm", str(small_corpus), "--print-config",
                          "--lr", "0.001"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "# batch_size = 32  (char text on cpu)" in out.stdout
    assert "lr = 0.001" in out.stdout and "# lr =" not in out.stdout  # the flag is not a default
    assert 'sampling = "' in out.stdout and "sampling = 'auto'" not in out.stdout


def test_a_run_stores_its_resolved_config(small_corpus, tmp_path):
    from textrnn.training.loop import train as train_run

    events = []
    train_run("lm", TrainConfig(corpus=[str(small_corpus)], max_steps=2, eval_every=10), tmp_path / "run",
              on_event=events.append)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    stored = stored.get("config", stored)
    assert all(stored[k] is not None for k in lm_defaults.TRAINING[("char", "cpu")])
    assert stored["sampling"] in ("streams", "random") and stored["model_options"]["init"] == "torch"
    said = [e.metrics["text"] for e in events if e.kind == "message"]
    assert any(line.startswith("defaults for char tokens") for line in said)
    assert any(line.strip().startswith("lr = 0.005") for line in said)


@pytest.mark.parametrize("model", ["mingru", "minlstm", "hawk", "xlstm"])
def test_the_scan_families_tie_word_embeddings_unless_the_user_chose_otherwise(model):
    from textrnn.registry import get_model

    info = get_model(model, task="lm")
    suggest = info.options.suggest_options
    assert suggest(profile(), {}) == {}  # characters keep the plugin's own defaults, and no dropout
    words = suggest(profile("word", vocab=10_000), {"num_layers": 1})
    assert words["tie_weights"][0] is True
    info.make_options({"num_layers": 1, **{k: v for k, (v, _) in words.items()}})  # a valid set of options
    assert suggest(profile("word", vocab=10_000), {"tie_weights": False}) == {}
    if model != "xlstm":  # xlstm's embedding is its residual stream: nothing to mismatch
        assert suggest(profile("subword", vocab=4_000), {"embedding_dim": 64, "hidden_size": 128}) == {}
        assert suggest(profile("word", vocab=10_000), {"hidden_size": 96})["embedding_dim"][0] == 96


def test_parameters_are_counted_on_the_meta_device_as_on_the_cpu():
    from textrnn.registry import get_model

    for name in ("lstm", "mingru", "hawk", "xlstm"):
        info = get_model(name, task="lm")
        options = info.make_options({})
        model = info.factory(65, options)
        assert lm_defaults.meta_parameter_count(info.factory, 65, options) == sum(p.numel() for p in model.parameters())


def test_an_amx_cpu_trains_in_bf16_unless_the_model_opts_out(monkeypatch):
    from textrnn_hawk import HawkOptions

    monkeypatch.setattr(lm_defaults, "cpu_has_amx", lambda: True)
    for granularity in ("char", "word"):
        config, sources = resolved(granularity=granularity)
        assert config.precision == "bf16" and "AMX" in sources["precision"]
    config, _ = resolve(TrainConfig(time_budget=300), profile(), HawkOptions, lambda options: 900_000)
    assert config.precision == "fp32"  # cpu_bf16 = False: the scan families learned less per second in bf16
    monkeypatch.setattr(lm_defaults, "cpu_has_amx", lambda: False)
    assert resolved()[0].precision == "fp32"

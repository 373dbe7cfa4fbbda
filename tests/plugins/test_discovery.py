"""Plugins come from the ``textrnn`` entry-point group; broken ones never take the CLI down."""

from __future__ import annotations

import json

from tests.cli.helpers import TINY, assert_error, run_cli

from .fakedist import BROKEN_PLUGIN, TINY_GRU_PLUGIN, install_fake_plugin


def test_first_party_plugins_are_entry_points():
    result = run_cli("plugins", "--json")
    assert result.exit_code == 0
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert plugins["recurrent"]["distribution"] == "textrnn"
    assert plugins["recurrent"]["hooks"] == ["register_models"]
    assert "register_tokenizers" in plugins["char"]["hooks"]


def test_models_lists_options_with_defaults():
    result = run_cli("models", "--json")
    models = {m["name"]: m for m in json.loads(result.stdout)}
    assert {"rnn", "lstm", "gru"} <= set(models)
    assert models["lstm"]["task"] == "lm"
    options = {o["name"]: o for o in models["lstm"]["options"]}
    assert options["hidden_size"]["default"] == 256 and options["hidden_size"]["help"]


def test_third_party_plugin_is_discovered_and_trains(tmp_path, monkeypatch, small_corpus):
    monkeypatch.syspath_prepend(str(install_fake_plugin(tmp_path / "site", "textrnn-tinygru", "tinygru_plugin",
                                                        TINY_GRU_PLUGIN, entry_name="tinygru")))
    result = run_cli("models", "--json")
    models = {m["name"]: m for m in json.loads(result.stdout)}
    assert models["tinygru"]["plugin"] == "tinygru"
    plugins = {p["name"]: p for p in json.loads(run_cli("plugins", "--json").stdout)["plugins"]}
    assert plugins["tinygru"]["version"] == "0.1"

    run = tmp_path / "run"
    result = run_cli("train", "lm", small_corpus, "--out", run, "--model", "tinygru", "--max-steps", "6",
                     "--eval-every", "3", "--batch-size", "4", "--seq-len", "16", "--sample-tokens", "0",
                     "--model-option", "hidden_size=16", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["steps"] == 6
    assert json.loads((run / "run.json").read_text())["plugin"] == "tinygru"


def test_autoload_can_be_disabled(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(install_fake_plugin(tmp_path / "site", "textrnn-tinygru", "tinygru_plugin",
                                                        TINY_GRU_PLUGIN, entry_name="tinygru")))
    monkeypatch.setenv("TEXTRNN_DISABLE_PLUGIN_AUTOLOAD", "1")
    names = {m["name"] for m in json.loads(run_cli("models", "--json").stdout)}
    assert "tinygru" not in names and "lstm" in names  # first-party plugins still load


def test_explicit_plugin_module(tmp_path, monkeypatch):
    (tmp_path / "explicit_plugin.py").write_text(TINY_GRU_PLUGIN.replace("    ", "", 0), encoding="utf-8")
    import textwrap

    (tmp_path / "explicit_plugin.py").write_text(textwrap.dedent(TINY_GRU_PLUGIN), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TEXTRNN_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("TEXTRNN_PLUGINS", "explicit_plugin")
    names = {m["name"] for m in json.loads(run_cli("models", "--json").stdout)}
    assert "tinygru" in names


def test_broken_plugin_warns_and_cli_keeps_working(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(install_fake_plugin(tmp_path / "site", "textrnn-broken", "broken_plugin",
                                                        BROKEN_PLUGIN, entry_name="broken")))
    result = run_cli("models")
    assert result.exit_code == 0
    assert "lstm" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1 and "'broken'" in warnings[0] and "boom" in warnings[0]


def test_strict_mode_makes_broken_plugin_an_error(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(install_fake_plugin(tmp_path / "site", "textrnn-broken", "broken_plugin",
                                                        BROKEN_PLUGIN, entry_name="broken")))
    monkeypatch.setenv("TEXTRNN_STRICT_PLUGINS", "1")
    assert_error(run_cli("models"), "'broken'", "TEXTRNN_STRICT_PLUGINS")


def test_misspelt_hookimpl_fails_early(tmp_path, monkeypatch):
    source = '''
        import textrnn

        @textrnn.hookimpl
        def register_modles(register):
            pass
    '''
    monkeypatch.syspath_prepend(str(install_fake_plugin(tmp_path / "site", "textrnn-typo", "typo_plugin", source,
                                                        entry_name="typo")))
    assert_error(run_cli("models"), "register_modles")


def test_unknown_model_suggests(small_corpus, tmp_path):
    result = run_cli("train", "lm", small_corpus, "--out", tmp_path / "r", "--model", "grru", *TINY)
    assert_error(result, "Did you mean 'gru'?")

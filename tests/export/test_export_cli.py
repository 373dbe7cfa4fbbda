"""``textrnn export`` through the CLI: a classifier's graph, and every refusal as one Error line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.cli.helpers import assert_error, run_cli

from .runs import train_lm


def test_classifier_graph_gives_textrnns_probabilities(classifier_run, tmp_path):
    import textrnn
    from textrnn.classification import encode_texts, pad_batch
    from textrnn.tokenizers import load_tokenizer

    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    result = run_cli("export", classifier_run, "--format", "onnx", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "classifier.onnx" in result.stdout
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["architecture"]["bidirectional"] and config["architecture"]["num_layers"] == 2

    texts = ["a gripping, funny film", "dull", "", "far too long and not one scene worth the ticket, sadly"]
    tokenizer = load_tokenizer(out / "tokenizer")  # the copy in the export
    ids, lengths = pad_batch(encode_texts(tokenizer, texts, config["max_length"])[0])
    session = ort.InferenceSession(str(out / "classifier.onnx"), providers=["CPUExecutionProvider"])
    logits, = session.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    expected = textrnn.load(classifier_run).classify(texts)
    for row, want in zip(probs, expected):
        assert [float(p) for p in row] == pytest.approx([want["probs"][label] for label in config["labels"]], abs=1e-5)


def test_a_plugin_model_without_a_known_layout_is_refused(corpus, tmp_path):
    # mingru: a model of textrnn's own install whose class declares no layout export knows
    run = train_lm(tmp_path / "mingru", corpus, "--model", "mingru", "--hidden-size", "8", "--embedding-dim", "8",
                   "--num-layers", "1")
    for fmt in ("onnx", "safetensors"):
        out = tmp_path / fmt
        assert_error(run_cli("export", run, "--format", fmt, "--out", out), "'mingru'", "cannot be exported")
        assert not out.exists()  # refused before anything was written


def test_missing_and_corrupt_runs_are_refused(tmp_path):
    assert_error(run_cli("export", tmp_path / "nope", "--format", "onnx", "--out", tmp_path / "o"), "no such run")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "run.json").write_text("{not json", encoding="utf-8")
    assert_error(run_cli("export", corrupt, "--format", "safetensors", "--out", tmp_path / "o"), "corrupt")


def test_bad_format_and_a_non_empty_out_are_refused(tied_lm_run, tmp_path):
    assert_error(run_cli("export", tied_lm_run, "--format", "tflite", "--out", tmp_path / "o"),
                 "unknown export format 'tflite'")
    out = tmp_path / "full"
    out.mkdir()
    (out / "mine.txt").write_text("keep me", encoding="utf-8")
    assert_error(run_cli("export", tied_lm_run, "--format", "safetensors", "--out", out), "not empty", "--overwrite")
    result = run_cli("export", tied_lm_run, "--format", "safetensors", "--out", out, "--overwrite", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["weights"] == "model.safetensors"
    assert (out / "mine.txt").read_text(encoding="utf-8") == "keep me"

"""Every bad input gets one ``Error: ...`` line, exit code 1, and no traceback."""

from __future__ import annotations

import pytest

from .helpers import TINY, assert_error, run_cli


def train(corpus, out, *extra):
    return run_cli("train", "lm", corpus, "--out", out, "--max-steps", "3", "--eval-every", "3", *TINY, *extra)


def test_empty_corpus(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_error(train(empty, tmp_path / "run"), "empty")


def test_binary_corpus(tmp_path):
    binary = tmp_path / "data.bin"
    binary.write_bytes(bytes(range(256)) * 10)
    assert_error(train(binary, tmp_path / "run"), "binary")


def test_invalid_utf8_names_file_and_offset(tmp_path, small_corpus):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(small_corpus.read_bytes()[:5000] + b"\xff\xfe" + b"more text\n" * 100)
    assert_error(train(bad, tmp_path / "run"), "bad.txt", "byte 5000", "--encoding-errors replace")
    assert train(bad, tmp_path / "run2", "--encoding-errors", "replace").exit_code == 0


def test_missing_corpus(tmp_path):
    assert_error(train(tmp_path / "nope.txt", tmp_path / "run"), "nope.txt", "no such file")


def test_corpus_shorter_than_one_window(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("hello world, this is short.\n" * 3)
    assert_error(train(short, tmp_path / "run"), "too short", "--batch-size")


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--model", "lstmm"], "unknown lm model 'lstmm'. Did you mean 'lstm'?"),
        (["--tokenizer", "nope"], "unknown tokenizer 'nope'"),
        (["--lr", "-1"], "lr must be positive"),
        (["--num-layers", "0"], "num_layers must be at least 1"),
        (["--dropout", "1.0"], "dropout must be in [0, 1)"),
        (["--tie-weights"], "tie_weights needs embedding_dim == hidden_size"),
        (["--model-option", "hiden_size=3"], "did you mean 'hidden_size'"),
        (["--optimizer", "adam"], "optimizer must be"),
        (["--device", "cuda"], "CUDA is not available"),
    ],
)
def test_bad_options(small_corpus, tmp_path, flags, fragment):
    assert_error(train(small_corpus, tmp_path / "run", *flags), fragment)


def test_nan_loss_keeps_last_good_checkpoint(small_corpus, tmp_path):
    run = tmp_path / "run"
    result = run_cli("train", "lm", small_corpus, "--out", run, "--max-steps", "40", "--eval-every", "5", *TINY,
                     "--lr", "1e30", "--clip", "0", "--warmup-steps", "0")
    assert_error(result, "NaN or infinite", "lower --lr")
    from textrnn.training.checkpoint import load_latest

    found, notes = load_latest(run)
    assert notes == []  # whatever was saved before divergence is intact


def test_resume_with_changed_config(small_corpus, tmp_path):
    run = tmp_path / "run"
    assert train(small_corpus, run).exit_code == 0
    assert_error(train(small_corpus, run, "--resume", "--lr", "0.1"), "changed config", "lr")


def test_resume_without_run(small_corpus, tmp_path):
    assert_error(train(small_corpus, tmp_path / "run", "--resume"), "nothing to resume")


def test_evaluate_not_a_run(tmp_path):
    assert_error(run_cli("evaluate", tmp_path), "not a textrnn run")


def test_generate_bad_sampling_options(small_corpus, tmp_path):
    run = tmp_path / "run"
    assert train(small_corpus, run).exit_code == 0
    assert_error(run_cli("generate", run, "--top-p", "1.5"), "top_p")
    assert_error(run_cli("generate", run, "--temperature", "0"), "temperature")
    assert_error(run_cli("generate", run, "--max-tokens", "-1"), "max_tokens")

"""The rest of the bad-input catalogue: each case is exit code 1, one ``Error: ...`` line and
no traceback (see ``helpers.assert_error``).

Already covered elsewhere, so not repeated here:

* tests/cli/test_errors.py: LM empty / binary / missing / shorter-than-a-window corpus,
  invalid UTF-8 with file and byte offset plus ``--encoding-errors replace``, unknown LM
  model and tokenizer, lr / num_layers / dropout out of range, NaN loss (there lr 1e30
  diverges at the first check, before any checkpoint: the kept checkpoint is tested here,
  in test_divergence_keeps_the_last_good_checkpoint), resume with a changed lr.
* tests/cli/test_data_cli.py: missing ``--text-field`` (JSON lines), ``--text-field`` on
  plain text, empty and binary files, invalid UTF-8 in the validation part.
* tests/cli/test_classifier_cli.py: missing text column, empty / binary / header-less /
  invalid-UTF-8 labelled files, unknown format, single class, unknown label, classify on
  an LM run, resume with a changed lr, ``--init-from`` a classifier run or an LM with
  another tokenizer or other sizes.
* tests/plugins/test_discovery.py: broken and misspelt plugins, unknown model hints.
"""

from __future__ import annotations

import json
import logging
import re
import shutil

import pytest

from tests.conftest import english_like

from .helpers import TINY, assert_error, run_cli
from .test_classifier_cli import rows, write_tsv

# The former defaults, bilstm on words, named: these tests check the CLI, not the data-driven
# defaults (tests/cli/test_classifier_defaults.py), and word tokens train in a fraction of the time.
CLASSIFIER = ["--embedding-dim", "8", "--hidden-size", "8", "--batch-size", "16", "--threads", "1", "--model", "bilstm", "--tokenizer", "word"]


def train_lm(corpus, out, *extra):
    return run_cli("train", "lm", corpus, "--out", out, "--max-steps", "3", "--eval-every", "3", *TINY, *extra)


def train_classifier(data, out, *extra):
    return run_cli("train", "classifier", data, "--out", out, "--max-steps", "2", *CLASSIFIER, *extra)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny LM run (char), one tiny LM run (word) and one tiny classifier run, shared."""
    root = tmp_path_factory.mktemp("catalogue")
    corpus = root / "corpus.txt"
    corpus.write_text(english_like(20_000, seed=3), encoding="utf-8")
    data = write_tsv(root / "train.tsv", rows(80, seed=4))
    for run, result in ((root / "lm", train_lm(corpus, root / "lm")),
                        (root / "lm-word", train_lm(corpus, root / "lm-word", "--tokenizer", "word")),
                        (root / "clf", train_classifier(data, root / "clf"))):
        assert result.exit_code == 0, (run, result.stderr)
    return {"root": root, "corpus": corpus, "data": data, "lm": root / "lm", "lm_word": root / "lm-word",
            "clf": root / "clf"}


# --------------------------------------------------------------------------- bad data


@pytest.mark.parametrize("suffix", [".tsv", ".csv"])
def test_classifier_invalid_utf8_names_file_and_byte_offset_and_replace_works(tmp_path, suffix):
    text = "label,text\n" + "".join(f"{y},{x}\n" for y, x in rows(60, seed=5))
    if suffix == ".tsv":
        text = text.replace(",", "\t")
    good = text.encode("utf-8")
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(good[:400] + b"\xff\xfe" + good[400:])
    assert_error(train_classifier(bad, tmp_path / "run"), f"bad{suffix}", "invalid UTF-8 at byte 400",
                 "--encoding-errors replace")
    assert not (tmp_path / "run").exists()
    result = train_classifier(bad, tmp_path / "run", "--encoding-errors", "replace")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl"])
def test_missing_label_column_is_named_with_the_available_ones(tmp_path, suffix):
    data = rows(40, seed=6)
    path = tmp_path / f"train{suffix}"
    if suffix == ".tsv":
        write_tsv(path, data)
    else:
        path.write_text("".join(json.dumps({"label": y, "text": x}) + "\n" for y, x in data), encoding="utf-8")
    result = train_classifier(path, tmp_path / "run", "--label-field", "sentiment")
    assert_error(result, "no column 'sentiment'", "label", "text")
    assert not (tmp_path / "run").exists()


def test_whitespace_only_corpus(tmp_path):
    blank = tmp_path / "blank.txt"
    blank.write_text(" \n\t\n" * 500, encoding="utf-8")
    assert_error(train_lm(blank, tmp_path / "run"), "blank.txt", "empty")


@pytest.mark.parametrize("name, content", [
    ("bad.jsonl", b'{"text": "fine"}\nnot json at all\n'),
    ("bad.parquet", b"PAR1 this is no parquet file"),
    ("bad.csv", b'label,text\npos,"an unterminated quote\n'),
])
def test_unreadable_table_files_are_one_line_and_datasets_logs_nothing(tmp_path, name, content):
    """datasets logs a parse error (logger.error) before raising it: that line must not reach stderr."""
    path = tmp_path / name
    path.write_bytes(content)
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    logger = logging.getLogger("datasets")
    logger.addHandler(handler)
    try:
        for result in (train_lm(path, tmp_path / "lm"), train_classifier(path, tmp_path / "clf")):
            assert_error(result, name, "cannot read as")
            error = next(line for line in result.stderr.splitlines() if line.startswith("Error: "))
            # the cause, not datasets' "An error occurred while generating the dataset"
            assert "error occurred while generating" not in error, error
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records if r.levelno >= logging.ERROR] == []


# --------------------------------------------------------------------------- unknown names


@pytest.mark.parametrize("args, fragment", [
    (["train", "classifier", "{data}", "--model", "bilstmm"], "unknown classifier model 'bilstmm'. Did you mean 'bilstm'?"),
    (["train", "classifier", "{data}", "--tokenizer", "nope"], "unknown tokenizer 'nope'"),
    (["train", "classifier", "{data}", "--model", "lstm"], "unknown classifier model 'lstm'"),  # an LM, not a classifier
    (["train", "lm", "{corpus}", "--model", "bilstm"], "unknown lm model 'bilstm'"),  # a classifier, not an LM
    (["tokenizer", "train", "{corpus}", "--type", "sentencepiece"], "unknown tokenizer 'sentencepiece'"),
])
def test_unknown_model_or_tokenizer(runs, tmp_path, args, fragment):
    args = [a.format(data=runs["data"], corpus=runs["corpus"]) for a in args]
    assert_error(run_cli(*args, "--out", tmp_path / "out"), fragment)


def test_unknown_plugin_module(monkeypatch):
    monkeypatch.setenv("TEXTRNN_PLUGINS", "no_such_textrnn_plugin")
    result = run_cli("models")  # not strict: one warning line, and the CLI keeps working
    assert result.exit_code == 0 and "lstm" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1 and "'no_such_textrnn_plugin'" in warnings[0]
    assert "Traceback" not in result.stderr

    from textrnn import plugins
    from textrnn.cli import common

    plugins.reset()
    common.reset_warnings()
    monkeypatch.setenv("TEXTRNN_STRICT_PLUGINS", "1")
    assert_error(run_cli("models"), "'no_such_textrnn_plugin'", "No module named", "TEXTRNN_STRICT_PLUGINS")


# --------------------------------------------------------------------------- a run of another kind


def test_resume_an_lm_run_with_another_model_or_tokenizer(runs):
    lm = runs["lm"]
    assert_error(train_lm(runs["corpus"], lm, "--resume", "--max-steps", "6", "--model", "gru"),
                 "changed config", "model ('lstm' -> 'gru')")
    assert_error(train_lm(runs["corpus"], lm, "--resume", "--max-steps", "6", "--tokenizer", "word"),
                 "changed config", "tokenizer ('char' -> 'word')")


def test_resume_a_classifier_run_with_another_model_or_tokenizer(runs):
    clf = runs["clf"]
    assert_error(train_classifier(runs["data"], clf, "--resume", "--model", "bigru"), "changed config", "model")
    assert_error(train_classifier(runs["data"], clf, "--resume", "--tokenizer", "char"), "changed config", "tokenizer")


def test_resume_into_a_run_of_the_other_task(runs):
    """Used to fail on the other task's config keys ("unknown config key 'corpus'...") instead."""
    assert_error(train_classifier(runs["data"], runs["lm"], "--resume"), "is a language-model run, not a classifier run")
    assert_error(train_lm(runs["corpus"], runs["clf"], "--resume"), "is a classifier run, not a language-model run")


@pytest.mark.parametrize("command", ["generate", "score"])
def test_lm_commands_on_a_classifier_run(runs, command):
    args = [command, runs["clf"]] + ([runs["corpus"]] if command == "score" else [])
    assert_error(run_cli(*args), f"{command} needs a lm run", "is a classifier run")


def test_evaluate_a_classifier_run_on_plain_text(runs, tmp_path):
    text = tmp_path / "plain.txt"
    text.write_text("just some text\n", encoding="utf-8")
    result = run_cli("evaluate", runs["clf"], text)
    assert_error(result, "plain.txt", "unknown labelled-data format '.txt'")


def test_run_directory_holding_another_tokenizer(runs, tmp_path):
    """A run whose tokenizer/ was replaced by another run's: resume, evaluate and generate refuse it."""
    run = tmp_path / "swapped"
    shutil.copytree(runs["lm"], run)
    shutil.rmtree(run / "tokenizer")
    shutil.copytree(runs["lm_word"] / "tokenizer", run / "tokenizer")
    assert_error(train_lm(runs["corpus"], run, "--resume", "--max-steps", "6"), "another tokenizer")
    for command in ("evaluate", "generate"):
        assert_error(run_cli(command, run), "tokenizer does not match the run")


# --------------------------------------------------------------------------- config values


@pytest.mark.parametrize("flags, fragment", [
    (["--lr", "-1"], "lr must be positive"),
    (["--num-layers", "0"], "num_layers must be an integer of at least 1"),
    (["--dropout", "1.0"], "dropout must be in [0, 1)"),
    (["--embedding-dropout", "1.5"], "embedding_dropout must be in [0, 1)"),
    (["--batch-size", "0"], "batch_size must be at least 1"),
])
def test_classifier_config_values_out_of_range(runs, tmp_path, flags, fragment):
    assert_error(train_classifier(runs["data"], tmp_path / "run", *flags), fragment)
    assert not (tmp_path / "run").exists()


def test_divergence_keeps_the_last_good_checkpoint(runs, tmp_path):
    """SGD whose learning rate warms up to a huge value diverges after a few good steps:
    the error names the checkpoint kept, which still loads and holds finite weights."""
    import torch

    from textrnn.training.checkpoint import load_latest

    run = tmp_path / "run"
    result = run_cli("train", "lm", runs["corpus"], "--out", run, *TINY, "--optimizer", "sgd", "--lr", "200",
                     "--warmup-steps", "20", "--schedule", "constant", "--clip", "0", "--max-steps", "20",
                     "--eval-every", "1", "--log-every", "1")
    assert_error(result, "NaN or infinite", "the last good checkpoint step-", "is kept", "lower --lr", "--clip")
    kept = re.search(r"checkpoint (step-\d+) is kept", result.stderr).group(1)
    found, notes = load_latest(run)
    assert notes == [] and found is not None and found.path.name == kept and found.step >= 1
    assert all(torch.isfinite(t).all() for t in found.tensors("model").values())
    assert json.loads((run / "run.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("content, fragment", [
    (b"null\n", "line 1 is null, not a JSON object"),
    (b'{"text": "a b", "label": "x"}\n  null \r\n', "line 2 is null"),
    (b'[null, {"text": "a b", "label": "x"}]', "element 1 of the JSON array is null"),
    (b'{"text": "a", "label": ' + b"[" * 20_000 + b"]" * 20_000 + b"}\n", "more than 1000 deep"),
    (b'{"text":\n' + b"[\n" * 20_000 + b"]\n" * 20_000 + b"}\n", "line 1001 nests"),
])
def test_json_lines_that_crashed_pyarrow_are_one_error(tmp_path, content, fragment):
    """pyarrow's JSON reader (under datasets) died with SIGSEGV on these: a null first row,
    deep nesting. Both trainers now refuse them up front, and nothing else runs."""
    path = tmp_path / "rows.jsonl"
    path.write_bytes(content)
    assert_error(train_lm(path, tmp_path / "lm"), "rows.jsonl", fragment)
    assert_error(train_classifier(path, tmp_path / "clf"), "rows.jsonl", fragment)


def test_null_values_inside_rows_are_fine(tmp_path):
    data = rows(40, seed=8)
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"text": x, "label": y, "note": None, "tags": [None]}) + "\n" for y, x in data)
                    + json.dumps({"text": "brackets [[[ {{{ in text", "label": "pos"}) + "\n", encoding="utf-8")
    assert train_classifier(path, tmp_path / "clf").exit_code == 0


def test_gpu_out_of_memory_is_one_error_line_and_keeps_the_checkpoints(tmp_path, monkeypatch):
    """No GPU in CI: the OOM that torch raises mid-training is simulated at step 5, after a save."""
    import torch

    from textrnn.training import loop

    corpus = tmp_path / "c.txt"
    corpus.write_text(english_like(20_000))
    out = tmp_path / "run"
    calls = {"n": 0}
    real_clip = torch.nn.utils.clip_grad_norm_

    def clip_then_oom(params, max_norm, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_clip(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(loop.torch.nn.utils, "clip_grad_norm_", clip_then_oom)
    result = run_cli("train", "lm", corpus, "--out", out, "--max-steps", "10", "--eval-every", "3", *TINY)
    assert_error(result, "GPU out of memory", "--batch-size", "--seq-len")
    assert (out / "checkpoints" / "step-00000003").is_dir()  # the save before the OOM is intact
    assert json.loads((out / "run.json").read_text())["status"] == "failed"

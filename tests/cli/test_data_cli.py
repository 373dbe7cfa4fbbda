"""Corpus formats, the token cache and ``textrnn tokenizer`` through the CLI."""

from __future__ import annotations

import json

import pytest

from ..conftest import english_like
from .helpers import TINY, assert_error, run_cli


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def train(corpus, out, cache, *extra):
    corpus = [corpus] if corpus is not None else []
    return run_cli("train", "lm", *corpus, "--out", out, "--cache-dir", cache, "--max-steps", "3", "--eval-every", "3",
                   *TINY, *extra)


def test_jsonl_corpus_trains_and_evaluates_its_own_validation_text(tmp_path, cache):
    import shutil

    rows = english_like(20_000).splitlines()
    corpus = tmp_path / "rows.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "body": r}) + "\n" for i, r in enumerate(rows)))
    run = tmp_path / "run"
    result = train(corpus, run, cache, "--text-field", "body", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    meta = json.loads((run / "run.json").read_text())
    assert meta["corpus"]["format"] == "jsonl" and meta["corpus"]["text_field"] == "body"
    assert summary["valid"]["chars"] == meta["corpus"]["valid_chars"]
    evaluated = run_cli("evaluate", run, "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert json.loads(evaluated.stdout) == summary["valid"]

    shutil.rmtree(cache)
    fresh = run_cli("evaluate", run, "--json")  # no cache: the validation text alone is encoded again
    assert fresh.exit_code == 0, fresh.stderr
    assert json.loads(fresh.stdout) == summary["valid"]
    corpus.write_text(corpus.read_text().replace("cat", "cow"))
    assert_error(run_cli("evaluate", run), "has changed since training", "pass FILE")


def test_second_run_uses_the_cache(small_corpus, tmp_path, cache):
    first = train(small_corpus, tmp_path / "one", cache, "--tokenizer", "bpe", "--vocab-size", "300")
    assert first.exit_code == 0, first.stderr
    assert "tokenized" in first.stderr and "token cache: reusing" not in first.stderr
    second = train(small_corpus, tmp_path / "two", cache, "--tokenizer", "bpe", "--vocab-size", "300")
    assert second.exit_code == 0, second.stderr
    assert "token cache: reusing the tokenizer" in second.stderr and "tokenized" not in second.stderr
    assert (tmp_path / "one" / "tokenizer" / "spm.model").read_bytes() == \
        (tmp_path / "two" / "tokenizer" / "spm.model").read_bytes()


def test_missing_text_field(tmp_path, cache):
    corpus = tmp_path / "rows.csv"
    corpus.write_text("id,body\n1,hello there\n2,general kenobi\n")
    assert_error(train(corpus, tmp_path / "run", cache, "--text-field", "content"),
                 "rows.csv", "no column 'content'", "columns: id, body")


def test_text_field_on_plain_text(small_corpus, tmp_path, cache):
    assert_error(train(small_corpus, tmp_path / "run", cache, "--text-field", "body"), "--text-field")


def test_empty_file(tmp_path, cache):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_error(train(empty, tmp_path / "run", cache), "empty.txt", "empty")


def test_binary_file(tmp_path, cache):
    binary = tmp_path / "data.txt"
    binary.write_bytes(bytes(range(256)) * 10)
    assert_error(train(binary, tmp_path / "run", cache), "data.txt", "binary")


def test_invalid_utf8_in_the_validation_part(small_corpus, tmp_path, cache):
    bad = tmp_path / "bad.txt"
    data = small_corpus.read_bytes()
    bad.write_bytes(data[:19_000] + b"\xc3(" + data[19_000:])  # after the tokenizer has been trained
    assert_error(train(bad, tmp_path / "run", cache), "bad.txt", "invalid UTF-8 at byte 19000",
                 "--encoding-errors replace")
    assert not list(cache.glob(".tmp-*"))  # the half-written entry is gone
    assert train(bad, tmp_path / "run2", cache, "--encoding-errors", "replace").exit_code == 0


def test_vocab_size_too_large(small_corpus, tmp_path, cache):
    assert_error(train(small_corpus, tmp_path / "run", cache, "--tokenizer", "bpe", "--vocab-size", "100000"),
                 "vocab_size 100000 is too large", "at most")


def test_hub_dataset_offline(tmp_path, cache):
    result = train(None, tmp_path / "run", cache, "--dataset", "textrnn-test/not-cached", "--text-field", "text")
    assert_error(result, "could not reach the Hugging Face Hub", "'textrnn-test/not-cached'")


def test_dataset_and_corpus_together(small_corpus, tmp_path, cache):
    assert_error(train(small_corpus, tmp_path / "run", cache, "--dataset", "x/y"), "not both")


def test_unwritable_cache_dir(small_corpus, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_error(train(small_corpus, tmp_path / "run", blocker / "cache"), "token cache", "--cache-dir")


# -- textrnn tokenizer -------------------------------------------------------------------

def test_tokenizer_train_encode_decode(small_corpus, tmp_path):
    out = tmp_path / "tok"
    result = run_cli("tokenizer", "train", small_corpus, "--type", "bpe", "--vocab-size", "300", "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["vocab_size"] == 300 and (out / "tokenizer.json").exists()

    text = "the cat sat on the mat.\nthe dog ☃\n"
    encoded = run_cli("tokenizer", "encode", out, text)
    assert encoded.exit_code == 0, encoded.stderr
    ids = encoded.stdout.split()
    assert all(i.isdigit() for i in ids)
    as_json = run_cli("tokenizer", "encode", out, text, "--json")
    assert json.loads(as_json.stdout)["ids"] == [int(i) for i in ids]
    (tmp_path / "t.txt").write_text(text)
    assert run_cli("tokenizer", "encode", out, "--file", tmp_path / "t.txt").stdout == encoded.stdout
    assert run_cli("tokenizer", "encode", out, input=text).stdout == encoded.stdout

    decoded = run_cli("tokenizer", "decode", out, *ids, "--json")
    assert decoded.exit_code == 0, decoded.stderr
    assert json.loads(decoded.stdout)["text"] == text
    assert run_cli("tokenizer", "decode", out, input=encoded.stdout).stdout == text

    assert_error(run_cli("tokenizer", "train", small_corpus, "--vocab-size", "300", "--out", out), "--overwrite")
    again = run_cli("tokenizer", "train", small_corpus, "--vocab-size", "280", "--out", out, "--overwrite")
    assert again.exit_code == 0, again.stderr
    assert_error(run_cli("tokenizer", "decode", out, "1", "two"), "must be integers", "'two'")


def test_tokenizer_train_on_a_tsv_corpus(tmp_path):
    corpus = tmp_path / "rows.tsv"
    corpus.write_text("label\ttext\n" + "".join(f"1\t{line}\n" for line in english_like(5_000).splitlines()))
    out = tmp_path / "tok"
    assert run_cli("tokenizer", "train", corpus, "--type", "word", "--out", out).exit_code == 0
    assert run_cli("tokenizer", "encode", out, "the cat").stdout.split() != []


def test_tokenizer_errors(small_corpus, tmp_path):
    assert_error(run_cli("tokenizer", "train", small_corpus, "--vocab-size", "100000", "--out", tmp_path / "t"),
                 "too large")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_error(run_cli("tokenizer", "train", empty, "--out", tmp_path / "t"), "empty")
    assert_error(run_cli("tokenizer", "encode", tmp_path / "nothing", "x"), "no tokenizer")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("x")
    assert_error(run_cli("tokenizer", "train", small_corpus, "--out", tmp_path / "other"), "not a tokenizer directory")

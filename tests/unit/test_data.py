"""Corpus sources, the token cache and bounded-memory tokenization (textrnn.data)."""

from __future__ import annotations

import json
import os
import time
import tracemalloc
import types

import numpy as np
import torch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textrnn import ConfigError, CorpusError
from textrnn.data import lm_data, sources, token_cache
from textrnn.data.lm_sampling import Cursor, WindowSampler
from textrnn.data.lm_data import encode_stream, prepare_lm_data, validation_tokens
from textrnn.data.sources import open_source, rechunk, split_at_byte
from .reference_text import load_lm_texts
from textrnn.data.token_cache import FileHashes, TokenCache
from textrnn.tokenizers import train_tokenizer

from ..conftest import english_like

ROWS = ["the cat sat on the mat.", "a dog ran,\n\"quoted\" text", "", "último ☃ line\n", "the end"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTRNN_CACHE_DIR", str(tmp_path / "cache"))


def config(corpus, **overrides):
    values = dict(corpus=[str(c) for c in corpus], valid=None, valid_fraction=0.1, encoding_errors="strict",
                  text_field=None, dataset=None, split=None, cache_dir=None, tokenizer="char", tokenizer_options={})
    values.update(overrides)
    return types.SimpleNamespace(**values)


def text_of(source) -> str:
    return "".join(source.chunks())


def rows_text(rows) -> str:
    return "".join(r if r.endswith("\n") else r + "\n" for r in rows if r)


# -- chunking and splitting --------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="ab \né", max_size=40), max_size=30), st.integers(1, 50))
def test_rechunk_keeps_text_and_ends_chunks_at_newlines(pieces, size):
    chunks = list(rechunk(pieces, size))
    assert "".join(chunks) == "".join(pieces)
    for chunk in chunks[:-1]:
        assert chunk.endswith("\n") or len(chunk) >= size  # only a long line without newline is cut elsewhere


def test_rechunk_cuts_a_long_line_before_a_space():
    chunks = list(rechunk(["word " * 100], 16))
    assert "".join(chunks) == "word " * 100
    assert all(c.endswith("word") for c in chunks[:-1]) and chunks[1].startswith(" ")


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="ab\n☃é😀", max_size=60), st.integers(1, 13), st.floats(0.0, 0.99))
def test_split_at_byte_cuts_at_a_character_boundary(text, size, fraction):
    total = len(text.encode())
    cut = int(total * (1 - fraction))
    tagged = list(split_at_byte(rechunk([text], size), cut))
    train = "".join(c for p, c in tagged if p == 0)
    valid = "".join(c for p, c in tagged if p == 1)
    assert train + valid == text
    assert [p for p, _ in tagged] == sorted(p for p, _ in tagged)
    assert len(train.encode()) <= cut < len(train.encode()) + 4  # the last boundary at or before the cut


def test_ascii_split_matches_the_character_split(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text(english_like(30_001))
    ids = prepare_lm_data(config([path], valid_fraction=0.13))
    train_text, valid_text, _ = load_lm_texts([str(path)], None, 0.13)
    assert ids.valid_chars == len(valid_text)
    assert ids.tokenizer.decode(ids.valid) == valid_text
    assert ids.tokenizer.decode(ids.train) == train_text


# -- plain text --------------------------------------------------------------------------

def test_text_files_directories_and_globs(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("alpha\n")
    (tmp_path / "d" / "sub" / "b.md").write_text("beta\n")
    (tmp_path / "d" / ".hidden.txt").write_text("hidden\n")
    (tmp_path / "d" / "data.bin").write_bytes(b"\x00")
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfgamma\n")
    assert text_of(open_source([tmp_path / "d", tmp_path / "bom.txt"])) == "alpha\nbeta\ngamma\n"
    globbed = open_source([str(tmp_path / "d" / "**" / "*.txt"), str(tmp_path / "d" / "**" / "*.md")])
    assert text_of(globbed) == "alpha\nbeta\n"  # recursive; hidden files are not matched
    assert open_source([tmp_path / "bom.txt"]).total_bytes() == len("gamma\n")
    with pytest.raises(CorpusError, match="no files match"):
        open_source([str(tmp_path / "*.nothing")])
    with pytest.raises(CorpusError, match="no such file"):
        open_source([tmp_path / "missing.txt"])


def test_invalid_utf8_names_the_file_and_absolute_offset_across_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "READ_BYTES", 7)  # the bad byte lands in a later read, after a split character
    path = tmp_path / "bad.txt"
    path.write_bytes("ab☃cdefghij".encode() + b"\xff" + b"tail\n")
    with pytest.raises(CorpusError, match=r"bad.txt: invalid UTF-8 at byte 13; pass --encoding-errors replace"):
        text_of(open_source([path]))
    assert text_of(open_source([path], encoding_errors="replace")) == "ab☃cdefghij\ufffdtail\n"


def test_binary_and_empty_files_are_refused(tmp_path):
    (tmp_path / "bin.txt").write_bytes(b"abc\x00def")
    with pytest.raises(CorpusError, match="binary"):
        open_source([tmp_path / "bin.txt"])
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(CorpusError, match="empty"):
        prepare_lm_data(config([tmp_path / "empty.txt"]))
    (tmp_path / "blank.txt").write_text("   \n\n  \n" * 100)
    with pytest.raises(CorpusError, match="empty"):
        prepare_lm_data(config([tmp_path / "blank.txt"]))


def test_text_field_on_plain_text_is_a_config_error(small_corpus):
    with pytest.raises(ConfigError, match="--text-field"):
        open_source([small_corpus], text_field="body")


# -- datasets formats --------------------------------------------------------------------

def write_format(tmp_path, fmt: str, rows=ROWS, field="body"):
    import pandas as pd

    frame = pd.DataFrame({"id": list(range(len(rows))), field: rows})
    if fmt == "csv":
        path = tmp_path / "rows.csv"
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        path = tmp_path / "rows.tsv"  # no quoting in TSV: tabs and newlines cannot be in a field
        lines = [f"id\t{field}"] + [f"{i}\t{r}" for i, r in enumerate(rows) if "\n" not in r]
        path.write_text("\n".join(lines) + "\n")
    elif fmt == "jsonl":
        path = tmp_path / "rows.jsonl"
        path.write_text("".join(json.dumps({"id": i, field: r}) + "\n" for i, r in enumerate(rows)))
    elif fmt == "parquet":
        path = tmp_path / "rows.parquet"
        frame.to_parquet(path)
    elif fmt == "saved":
        import datasets

        path = tmp_path / "saved"
        datasets.Dataset.from_pandas(frame).save_to_disk(str(path))
    elif fmt == "saved-dict":
        import datasets

        path = tmp_path / "saved-dict"
        other = datasets.Dataset.from_dict({"id": [0], field: ["other split"]})
        splits = {"train": other, "validation": datasets.Dataset.from_pandas(frame)}
        datasets.DatasetDict(splits).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet", "saved"])
def test_each_format_reads_the_text_column_one_row_per_line(tmp_path, fmt):
    path = write_format(tmp_path, fmt)
    source = open_source([path], text_field="body")
    # empty rows are skipped (CSV reads an empty field as missing)
    expected = rows_text(r for r in ROWS if not (fmt == "tsv" and "\n" in r))
    assert text_of(source) == expected
    assert source.total_bytes() == len(expected.encode())
    assert source.describe()["text_field"] == "body"


def test_saved_dataset_dict_reads_the_named_split(tmp_path):
    path = write_format(tmp_path, "saved-dict")
    assert text_of(open_source([path], text_field="body", split="validation")) == rows_text(ROWS)
    assert text_of(open_source([path], text_field="body")) == "other split\n"
    with pytest.raises(CorpusError, match="no split 'test'; splits: train, validation"):
        text_of(open_source([path], text_field="body", split="test"))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "saved"])
def test_missing_text_field_names_the_field_and_the_columns(tmp_path, fmt):
    path = write_format(tmp_path, fmt)
    with pytest.raises(CorpusError, match=r"no column 'content' \(columns: id, body\)"):
        open_source([path], text_field="content").total_bytes()
    with pytest.raises(CorpusError, match=r"no column 'text'; pass --text-field .*columns: id, body"):
        open_source([path]).total_bytes()  # the default column, "text", is absent too


def test_a_numeric_column_is_not_text(tmp_path):
    path = write_format(tmp_path, "jsonl")
    with pytest.raises(CorpusError, match="column 'id' holds int64 values, not text"):
        open_source([path], text_field="id").total_bytes()


def test_mixed_formats_are_refused(tmp_path, small_corpus):
    path = write_format(tmp_path, "jsonl")
    with pytest.raises(CorpusError, match="mixes"):
        open_source([small_corpus, path], text_field="body")


def test_hub_dataset_offline_is_one_clear_corpus_error():
    source = open_source([], dataset="textrnn-test/surely-not-cached", split="train", text_field="text")
    with pytest.raises(CorpusError, match="could not reach the Hugging Face Hub to load dataset "
                                          "'textrnn-test/surely-not-cached'") as info:
        source.fingerprint()
    assert "\n" not in str(info.value)


def test_training_data_from_a_dataset_matches_the_same_text_as_a_file(tmp_path):
    rows = english_like(20_000).splitlines()
    path = write_format(tmp_path, "parquet", rows=rows, field="text")
    plain = tmp_path / "plain.txt"
    plain.write_text(rows_text(rows))
    from_rows = prepare_lm_data(config([path]))
    from_text = prepare_lm_data(config([plain]))
    assert np.array_equal(from_rows.train, from_text.train) and np.array_equal(from_rows.valid, from_text.valid)
    assert from_rows.corpus["format"] == "parquet" and from_text.corpus["format"] == "text"


# -- lm data and the token cache ---------------------------------------------------------

@pytest.mark.parametrize("name, options", [("char", {}), ("word", {}), ("bpe", {"vocab_size": 300})])
def test_streamed_ids_equal_in_memory_encoding(tmp_path, name, options, monkeypatch):
    monkeypatch.setattr(sources, "CHUNK_CHARS", 1000)  # many chunks, cut at newlines
    path = tmp_path / "c.txt"
    text = english_like(40_000) + "ünïcödé ☃ line\n" * 20
    path.write_text(text)
    data = prepare_lm_data(config([path], tokenizer=name, tokenizer_options=options))
    raw = text.encode()  # the split is by UTF-8 bytes, at a character boundary
    train_text = raw[: int(len(raw) * 0.9)].decode("utf-8", "ignore")
    valid_text = text[len(train_text):]
    tokenizer = train_tokenizer(name, [train_text], **options)
    assert data.tokenizer.fingerprint() == tokenizer.fingerprint()
    assert isinstance(data.train, np.memmap) and data.train.dtype == np.uint16
    assert data.train.tolist() == tokenizer.encode(train_text)
    assert data.valid.tolist() == tokenizer.encode(valid_text)
    assert data.valid_chars == len(valid_text)


def test_second_run_hits_the_cache_and_skips_training(small_corpus):
    messages = []
    first = prepare_lm_data(config([small_corpus], tokenizer="bpe", tokenizer_options={"vocab_size": 300}),
                            on_message=messages.append)
    assert not first.cached and not first.tokenizer_cached and "tokenized" in messages[-1]
    messages.clear()
    second = prepare_lm_data(config([small_corpus], tokenizer="bpe", tokenizer_options={"vocab_size": 300}),
                             on_message=messages.append)
    assert second.cached and second.tokenizer_cached
    assert len(messages) == 1 and "token cache: reusing the tokenizer" in messages[0]
    assert second.tokenizer.fingerprint() == first.tokenizer.fingerprint()
    assert np.array_equal(first.train, second.train) and first.corpus == second.corpus


def test_changing_the_file_invalidates(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text(english_like(20_000))
    first = prepare_lm_data(config([path]))
    path.write_text(english_like(20_000, seed=1))  # same size, new content, possibly the same mtime tick
    second = prepare_lm_data(config([path]))
    assert not second.cached and not second.tokenizer_cached
    assert first.corpus["fingerprint"] != second.corpus["fingerprint"]
    assert not np.array_equal(first.train, second.train)


def test_changing_the_tokenizer_invalidates(small_corpus):
    prepare_lm_data(config([small_corpus], tokenizer="bpe", tokenizer_options={"vocab_size": 300}))
    other = prepare_lm_data(config([small_corpus], tokenizer="bpe", tokenizer_options={"vocab_size": 320}))
    assert not other.cached and not other.tokenizer_cached and other.tokenizer.vocab_size == 320
    assert not prepare_lm_data(config([small_corpus], tokenizer="char")).cached


def test_changing_the_split_invalidates(small_corpus):
    first = prepare_lm_data(config([small_corpus]))
    second = prepare_lm_data(config([small_corpus], valid_fraction=0.2))
    assert not second.cached and len(second.valid) > len(first.valid)


def test_a_given_tokenizer_finds_ids_by_its_fingerprint(small_corpus):
    first = prepare_lm_data(config([small_corpus]))
    resumed = prepare_lm_data(config([small_corpus]), tokenizer=first.tokenizer)
    assert resumed.cached and np.array_equal(resumed.train, first.train)


def test_a_corrupt_entry_is_rewritten(small_corpus, tmp_path):
    first = prepare_lm_data(config([small_corpus]))
    entry = next((tmp_path / "cache").glob("tokens-*"))
    with open(entry / "train.bin", "ab") as f:
        f.write(b"xx")
    again = prepare_lm_data(config([small_corpus]))
    assert not again.cached and np.array_equal(again.train, first.train)
    assert not list((tmp_path / "cache").glob(".tmp-*"))


def test_validation_tokens_with_and_without_the_cache(small_corpus, tmp_path):
    import shutil

    data = prepare_lm_data(config([small_corpus]))
    ids, chars = validation_tokens(config([small_corpus]), data.tokenizer, data.corpus["fingerprint"])
    assert np.array_equal(ids, data.valid) and chars == data.valid_chars
    shutil.rmtree(tmp_path / "cache")
    ids, chars = validation_tokens(config([small_corpus]), data.tokenizer, data.corpus["fingerprint"])
    assert np.array_equal(ids, data.valid) and chars == data.valid_chars
    from textrnn import RunError

    with pytest.raises(RunError, match="changed since training"):
        validation_tokens(config([small_corpus], valid_fraction=0.3), data.tokenizer, data.corpus["fingerprint"])


def test_runs_recorded_with_the_old_text_fingerprint_still_evaluate(small_corpus):
    recorded = load_lm_texts([str(small_corpus)], None, 0.1)[2]["fingerprint"]  # before the token cache
    data = prepare_lm_data(config([small_corpus]))
    ids, chars = validation_tokens(config([small_corpus]), data.tokenizer, recorded)
    assert np.array_equal(ids, data.valid) and chars == data.valid_chars


def test_a_valid_text_file_beside_a_dataset_corpus(tmp_path):
    path = write_format(tmp_path, "jsonl", rows=english_like(5_000).splitlines(), field="body")
    valid = tmp_path / "valid.txt"
    valid.write_text(english_like(1_000, seed=3))
    data = prepare_lm_data(config([path], text_field="body", valid=str(valid)))
    assert data.valid_chars == 1_000 and data.tokenizer.decode(data.valid) == valid.read_text()
    assert data.corpus["format"] == "jsonl" and data.corpus["valid"]["format"] == "text"


def test_file_hashes_remember_only_settled_files(tmp_path):
    memo = tmp_path / "memo"
    memo.mkdir()
    hashes = FileHashes(memo)
    path = tmp_path / "f.txt"
    path.write_text("one")
    first = hashes(path)
    assert not list(memo.iterdir())  # just written: never remembered ("racy clean")
    old = time.time() - 60
    os.utime(path, (old, old))
    assert hashes(path) == first and len(list(memo.iterdir())) == 1
    path.write_text("two")
    os.utime(path, (old + 1, old + 1))
    assert hashes(path) != first  # a new mtime means a new hash


def test_memmap_batches_equal_in_memory_batches(small_corpus):
    data = prepare_lm_data(config([small_corpus]))
    for mode in ("fixed", "streams", "random"):
        mapped = WindowSampler(data.train, mode, batch_size=4, seq_len=16, seed=0)
        loaded = WindowSampler(np.array(data.train), mode, batch_size=4, seq_len=16, seed=0)
        for cursor in (Cursor(), Cursor(1, 0, 16), Cursor(40, 1, 32)):
            a, b = mapped.next(cursor)[0], loaded.next(cursor)[0]
            assert a.inputs.equal(b.inputs) and a.targets.equal(b.targets)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_process_pool_gives_the_same_ids_in_order(tmp_path, small_corpus, method, monkeypatch):
    if method == "fork" and not hasattr(os, "fork"):
        pytest.skip("no fork here")
    monkeypatch.setattr(lm_data, "_start_method", lambda: method)
    data = prepare_lm_data(config([small_corpus], tokenizer="word"))
    tok_dir = next((tmp_path / "cache").glob("tokenizer-*"))
    chunks = [(0, c) for c in open_source([small_corpus]).chunks(size=500)]
    assert len(chunks) > 20
    paths = [tmp_path / "a.bin", tmp_path / "b.bin"]
    stats = encode_stream(iter(chunks), data.tokenizer, np.dtype("<u2"), paths, workers=2, tokenizer_dir=tok_dir)
    expected = data.tokenizer.encode(small_corpus.read_text())
    assert np.fromfile(paths[0], dtype="<u2").tolist() == expected
    assert stats[0]["tokens"] == len(expected) and stats[0]["chars"] == len(small_corpus.read_text())


def test_tokenizing_keeps_memory_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "CHUNK_CHARS", 16 << 10)
    monkeypatch.setattr(sources, "READ_BYTES", 16 << 10)
    monkeypatch.setattr(token_cache, "HASH_BYTES", 16 << 10)
    path = tmp_path / "big.txt"
    block = english_like(64 << 10)
    with open(path, "w") as f:
        for _ in range(40):  # 2.6 MB: about 160 chunks
            f.write(block)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        data = prepare_lm_data(config([path], tokenizer="word"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data.train.size + data.valid.size > size // 8
    assert peak < size / 4, (peak, size)  # the corpus, its str or its ids whole would each exceed this


def test_cache_dir_that_cannot_be_created_is_a_config_error(tmp_path, small_corpus):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot create the token cache"):
        prepare_lm_data(config([small_corpus], cache_dir=str(blocker / "cache")))


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("TEXTRNN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert TokenCache().root == tmp_path / "textrnn" / "tokens"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert str(TokenCache().root).endswith(".cache/textrnn/tokens")
    assert lm_data.POOL_MIN_BYTES > 1 << 20  # small corpora never pay for worker start-up

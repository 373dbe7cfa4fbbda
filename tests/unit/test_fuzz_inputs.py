"""Fuzzing: random bytes and random Unicode into every tokenizer and every data loader.

Tokenizers (trained once per module on a small fixed text) must give exactly what their
module docstrings promise, and raise nothing but the documented errors:

* char: text of characters seen in training round-trips exactly; any other character
  decodes as U+FFFD. Never raises.
* word: ``decode(encode(text)) == normalize(text)`` with out-of-vocabulary words as
  ``<unk>``. Never raises.
* bpe / unigram: ``decode(encode(text)) == text`` for any string (byte fallback); a lone
  surrogate (what ``bytes.decode("utf-8", "surrogateescape")`` makes of invalid UTF-8) is
  not text and is a CorpusError.
* decode of any integer ids never raises (an id outside the vocabulary is ``<unk>``).

tests/unit/test_tokenizers.py already fuzzes surrogate-free Unicode; this file adds
bytes, lone surrogates, arbitrary ids, the word tokenizer on arbitrary text, and
tokenizer training on random text.

Data loaders (the library entry points the CLI calls) get random bytes, random text and
half-structured tables as .txt, .csv, .tsv, .jsonl and .parquet files: they either
succeed or raise a TextrnnError (which the CLI prints as one ``Error:`` line), never
anything else.
"""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import textrnn
from textrnn.tokenizers import train_tokenizer
from textrnn_word import WordTokenizer

from tests.conftest import english_like

TRAINING_TEXT = english_like(3000, seed=7) + "Zoë's naïve café ☕ 日本語\n\ttabbed  twice-spaced\n"
NAMES = ("char", "word", "bpe", "unigram")
SURROGATES = range(0xD800, 0xE000)

fuzz = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Unicode with everything, lone surrogates included; bytes as Python reads a file with
# errors="surrogateescape" (invalid UTF-8 becomes lone surrogates) or as Latin-1.
any_unicode = st.text(st.characters(exclude_categories=()), max_size=120)
from_bytes = st.tuples(st.binary(max_size=120), st.sampled_from(["surrogateescape", "latin-1", "replace"])).map(
    lambda pair: pair[0].decode("latin-1") if pair[1] == "latin-1" else pair[0].decode("utf-8", pair[1]))
any_text = st.one_of(any_unicode, from_bytes)


@pytest.fixture(scope="module")
def tokenizers():
    options = {"bpe": {"vocab_size": 300}, "unigram": {"vocab_size": 300}}
    return {name: train_tokenizer(name, [TRAINING_TEXT], **options.get(name, {})) for name in NAMES}


def has_surrogate(text: str) -> bool:
    return any(ord(c) in SURROGATES for c in text)


def expected_decode(name: str, tok, text: str) -> str:
    if name == "char":
        seen = set(tok.chars)
        return "".join(c if c in seen else "\ufffd" for c in text)
    if name == "word":
        known = set(tok.words)
        return "\n".join(" ".join(w if w in known else "<unk>" for w in line.split()) for line in text.split("\n"))
    return text


@fuzz
@given(text=any_text)
def test_every_tokenizer_on_arbitrary_text_and_bytes(tokenizers, text):
    for name, tok in tokenizers.items():
        if name == "word" and "<eos>" in text.split():
            continue  # a literal "<eos>" word encodes as the end-of-line id (see the report); not fuzzed
        try:
            ids = tok.encode(text)
        except textrnn.CorpusError as exc:
            assert name in ("bpe", "unigram") and has_surrogate(text), (name, text, exc)
            assert "not valid Unicode" in str(exc)
            continue
        assert not (name in ("bpe", "unigram") and has_surrogate(text)), "a surrogate must not pass silently"
        assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == expected_decode(name, tok, text), name
        assert tok.encode_batch([text, "x"]) == [ids, tok.encode("x")]


@fuzz
@given(data=st.data())
def test_text_within_the_vocabulary_round_trips_exactly(tokenizers, data):
    char = tokenizers["char"]
    text = data.draw(st.text(st.sampled_from(char.chars), max_size=200), label="char text")
    for name in NAMES:
        if name != "word":
            assert tokenizers[name].decode(tokenizers[name].encode(text)) == text, name
    word = tokenizers["word"]
    vocab_words = word.words[2:]
    spacing = st.sampled_from([" ", "  ", "\t", " \t ", "\r", "\x0b", "\u3000"])
    line = st.lists(st.tuples(st.sampled_from(vocab_words), spacing), max_size=8).map(
        lambda pairs: "".join(w + s for w, s in pairs))
    text = data.draw(st.lists(line, min_size=1, max_size=5).map("\n".join), label="word text")
    assert word.decode(word.encode(text)) == WordTokenizer.normalize(text)
    normal = WordTokenizer.normalize(text)
    assert word.decode(word.encode(normal)) == normal


@fuzz
@given(ids=st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=40))
def test_decoding_any_ids_never_raises(tokenizers, ids):
    for name, tok in tokenizers.items():
        text = tok.decode(ids)
        assert isinstance(text, str)
        if any(not 0 <= i < tok.vocab_size for i in ids):  # an id outside the vocabulary decodes as <unk>
            assert ("<unk>" if name == "word" else "\ufffd") in text, (name, ids, text)


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(any_text, max_size=4), name=st.sampled_from(NAMES),
       vocab_size=st.sampled_from([None, 1, 258, 300, 5000]))
def test_training_on_random_text_succeeds_or_raises_a_textrnn_error(texts, name, vocab_size):
    options = {"vocab_size": vocab_size} if name in ("bpe", "unigram") and vocab_size else {}
    try:
        tok = train_tokenizer(name, [TRAINING_TEXT[:500], *texts], **options)
    except textrnn.TextrnnError:
        return
    sample = "".join(texts)
    if name in ("bpe", "unigram") and not has_surrogate(sample):
        assert tok.decode(tok.encode(sample)) == sample


# --------------------------------------------------------------------------- data loaders

HEADERS = ["text", "label", "body", ""]
cell = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def _table(sep: str):
    header = st.lists(st.sampled_from(HEADERS), min_size=1, max_size=3).map(sep.join)
    body = st.lists(st.lists(cell, min_size=0, max_size=4).map(sep.join), max_size=8)
    return st.tuples(header, body).map(lambda hb: ("\n".join([hb[0], *hb[1]]) + "\n").encode("utf-8"))


json_value = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), cell, st.lists(st.integers(), max_size=2),
                       st.dictionaries(cell, st.integers(), max_size=2))
json_lines = st.lists(st.one_of(st.dictionaries(st.sampled_from(HEADERS), json_value, max_size=3), json_value),
                      max_size=8).map(lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8"))
raw = st.one_of(
    st.binary(max_size=300),
    any_unicode.map(lambda t: t.encode("utf-8", "surrogatepass")),  # lone surrogates: invalid UTF-8 bytes
    st.text(max_size=300).map(lambda t: t.encode("utf-8")),
)
CONTENT = {".txt": st.one_of(raw, st.text(max_size=2000).map(str.encode)), ".csv": st.one_of(raw, _table(",")),
           ".tsv": st.one_of(raw, _table("\t")), ".jsonl": st.one_of(raw, json_lines), ".parquet": raw}
_counter = itertools.count()


def _write(root, suffix: str, data: bytes):
    path = root / f"fuzz{next(_counter)}{suffix}"
    path.write_bytes(data)
    return path


def _succeeds_or_textrnn_error(fn) -> bool:
    """True when ``fn`` succeeds, False when it raises a one-line TextrnnError; anything else fails."""
    try:
        fn()
    except textrnn.TextrnnError as exc:
        assert str(exc) and "\n" not in str(exc).strip(), repr(exc)  # one line for the CLI
        return False
    return True


# Well-formed files with fuzzed words: every loader must accept them. Without this, a loader
# that refused every file would pass the tests below, since refusing is always allowed.
word = st.text(st.characters(categories=("L", "N", "P", "S"), exclude_characters="\t,\"'\\"), min_size=1, max_size=8)
# A leading word of letters: a column whose every row is a number ("0") is read as numbers,
# which textrnn refuses on purpose (tests/unit/test_data.py::test_a_numeric_column_is_not_text).
sentence = st.lists(word, min_size=1, max_size=8).map(lambda words: "w " + " ".join(words))
LABELS = ("pos", "neg")


def _parquet(columns: dict) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def _well_formed(suffix: str, labelled: bool):
    """A valid file of this format: a text column (and a label column with both labels twice)."""
    count = 4 if labelled else 20
    texts = st.lists(sentence, min_size=count, max_size=count + 10)

    def render(lines: list[str]) -> bytes:
        labels = [LABELS[i % 2] for i in range(len(lines))]
        if suffix == ".txt":
            return "".join(line + "\n" for line in lines).encode("utf-8")
        if suffix in (".csv", ".tsv"):
            sep = "," if suffix == ".csv" else "\t"
            rows = [sep.join([y, x] if labelled else [x]) for y, x in zip(labels, lines)]
            return "\n".join([sep.join(["label", "text"] if labelled else ["text"]), *rows, ""]).encode("utf-8")
        records = [{"label": y, "text": x} if labelled else {"text": x} for y, x in zip(labels, lines)]
        if suffix == ".jsonl":
            return "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")
        return _parquet({key: [r[key] for r in records] for key in records[0]})

    return texts.map(render)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-files")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_lm_loaders_on_random_files(files, data):
    """open_source + chunks, prepare_lm_data (train lm), train_tokenizer_on (tokenizer train)."""
    from textrnn.data.lm_data import prepare_lm_data, train_tokenizer_on
    from textrnn.data.sources import open_source
    from textrnn.training.config import TrainConfig

    suffix = data.draw(st.sampled_from([".txt", ".txt", ".csv", ".tsv", ".jsonl", ".parquet"]), label="suffix")
    valid = data.draw(st.booleans(), label="well formed")
    content = _well_formed(suffix, labelled=False) if valid else CONTENT[suffix]
    path = _write(files, suffix, data.draw(content, label="content"))
    errors = data.draw(st.sampled_from(["strict", "replace"]), label="encoding_errors")

    def read():
        source = open_source([path], encoding_errors=errors)
        source.check_not_empty()
        assert all(isinstance(chunk, str) and chunk for chunk in source.chunks())

    def prepare():
        prepared = prepare_lm_data(TrainConfig(corpus=[str(path)], encoding_errors=errors, valid_fraction=0.5))
        vocab = prepared.tokenizer.vocab_size
        assert len(prepared.train) and len(prepared.valid)
        assert int(prepared.train.max()) < vocab and int(prepared.valid.max()) < vocab

    read_ok = _succeeds_or_textrnn_error(read)
    prepare_ok = _succeeds_or_textrnn_error(prepare)
    tokenizer_ok = _succeeds_or_textrnn_error(
        lambda: train_tokenizer_on([str(path)], "word", {}, encoding_errors=errors))
    if valid:
        assert read_ok and prepare_ok and tokenizer_ok, (read_ok, prepare_ok, tokenizer_ok, path.read_bytes()[:200])
    # training data is read data: whatever `train lm` accepts, the source reader accepts too
    assert read_ok or not (prepare_ok or tokenizer_ok), (prepare_ok, tokenizer_ok)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_labelled_loaders_on_random_files(files, data):
    """load_classifier_splits (train classifier), read_labelled (evaluate), read_texts (classify --file)."""
    from textrnn.data.labelled import load_classifier_splits, read_labelled, read_texts

    suffix = data.draw(st.sampled_from([".tsv", ".csv", ".jsonl", ".parquet", ".txt"]), label="suffix")
    valid = suffix != ".txt" and data.draw(st.booleans(), label="well formed")  # .txt holds no labels
    content = _well_formed(suffix, labelled=True) if valid else CONTENT[suffix]
    path = _write(files, suffix, data.draw(content, label="content"))
    errors = data.draw(st.sampled_from(["strict", "replace"]), label="encoding_errors")

    def splits():
        train, held_out, notes = load_classifier_splits(str(path), None, 0.2, 0, encoding_errors=errors)
        assert train.texts and held_out.texts and all(isinstance(x, str) and x.strip() for x in train.texts)
        assert len(set(train.labels)) >= 1 and all(isinstance(y, str) and y for y in train.labels)

    splits_ok = _succeeds_or_textrnn_error(splits)
    labelled_ok = _succeeds_or_textrnn_error(lambda: read_labelled(path, encoding_errors=errors))
    _succeeds_or_textrnn_error(lambda: read_labelled(path, "body", None, encoding_errors=errors))
    texts_ok = _succeeds_or_textrnn_error(lambda: read_texts(path, encoding_errors=errors))
    if valid:
        assert splits_ok and labelled_ok and texts_ok, (splits_ok, labelled_ok, texts_ok, path.read_bytes()[:200])
    # data that `train classifier` accepts, `evaluate` and `classify --file` read as well
    assert labelled_ok and texts_ok or not splits_ok, (splits_ok, labelled_ok, texts_ok)

"""Tokenizers: lossless subword round trips, PTB-style words, storage and its checks.

sentencepiece models are trained once per module on a small synthetic corpus (a
fraction of a second); hypothesis then throws arbitrary Unicode at them.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import textrnn
from textrnn.registry import tokenizers
from textrnn.tokenizers import load_tokenizer, save_tokenizer, train_tokenizer
from textrnn_subword.options import SubwordOptions
from textrnn_subword.training import _chunks, training_sentences
from textrnn_word import WordTokenizer

SUBWORD = ("bpe", "unigram")
VOCAB = 320  # 256 byte pieces + <unk> + "\n" + the corpus's characters + some merges
fuzz = settings(deadline=None, max_examples=150)

TRICKY = [
    "",
    "\n",
    "  two leading, three trailing   ",
    "line one\n\n\nline four\n",
    "\ttab\tseparated\t\n  indented\n    more\n",
    "emoji 😀👍🏽 and CJK 日本語の文章 and Ж",
    "literal ▁ and ▁▁ space marks▁",
    "<unk> <0x41> <s> </s> \ufffd",
    "nul\x00 bell\x07 cr\r\n crlf\r\n",
    "\u2028 line sep \x85 nel \x0b vt \x0c ff",
    "a" * 5000 + "\n" + "wide " * 2000,
]


def synthetic_corpus(lines: int = 1500, seed: int = 0) -> str:
    """Words from a small syllable set, some accents and CJK, ragged spacing and indentation."""
    rng = random.Random(seed)
    syllables = ["ka", "to", "ri", "me", "sun", "lo", "é", "日本", "an", "the", "ing", "qu"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(200)]
    out = []
    for _ in range(lines):
        indent = " " * rng.choice([0, 0, 0, 2, 4])
        out.append(indent + " ".join(rng.choice(words) for _ in range(rng.randint(0, 12))))
    return "\n".join(out) + "\n"


CORPUS = synthetic_corpus()


@pytest.fixture(scope="module", params=SUBWORD)
def subword(request):
    return train_tokenizer(request.param, [CORPUS], vocab_size=VOCAB)


@pytest.fixture(scope="module")
def bpe():
    return train_tokenizer("bpe", [CORPUS], vocab_size=VOCAB)


# -- registry ---------------------------------------------------------------------------


def test_tokenizers_are_registered_by_their_plugins():
    table = tokenizers()
    assert {name: table[name].plugin for name in ("bpe", "unigram", "word")} == {
        "bpe": "subword", "unigram": "subword", "word": "word",
    }
    assert table["bpe"].cls.type_name == "bpe" and table["unigram"].cls.type_name == "unigram"
    assert all(table[name].description for name in ("bpe", "unigram", "word"))


def test_plugins_do_not_import_torch_or_sentencepiece():
    import subprocess
    import sys

    code = "import sys, textrnn_subword, textrnn_word; print('torch' in sys.modules, 'sentencepiece' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# -- sentencepiece: lossless ---------------------------------------------------------------


@pytest.mark.parametrize("text", TRICKY)
def test_subword_round_trip_on_tricky_text(subword, text):
    assert subword.decode(subword.encode(text)) == text


@fuzz
@given(text=st.text())
@example(text="▁")
@example(text=" \n \n")
def test_subword_round_trip_on_any_unicode(subword, text):
    ids = subword.encode(text)
    assert subword.decode(ids) == text
    assert all(0 <= i < subword.vocab_size for i in ids)
    assert not set(ids) & set(subword.unknown_ids())  # byte fallback: nothing is <unk>


@fuzz
@given(texts=st.lists(st.text(), max_size=6))
def test_subword_encode_batch_matches_encode(subword, texts):
    assert subword.encode_batch(texts) == [subword.encode(t) for t in texts]


@fuzz
@given(head=st.text(), tail=st.text())
def test_no_subword_piece_spans_a_newline(subword, head, tail):
    joined = subword.encode(head + "\n" + tail)
    assert joined == subword.encode(head) + [subword.newline_id] + subword.encode(tail)


def test_unseen_characters_become_byte_pieces(subword):
    assert "Ж" not in CORPUS
    ids = subword.encode("Ж")
    assert len(ids) == len("Ж".encode()) == 2
    assert subword.decode(ids) == "Ж"


def test_subword_specials(subword):
    assert subword.decode([subword.newline_id]) == "\n"
    assert subword.unknown_ids() == [0]  # no bos/eos/pad: <unk> is the only special piece
    assert subword.decode([0, subword.vocab_size, -1]) == "\ufffd" * 3
    assert subword.vocab_size == VOCAB


@fuzz
@given(text=st.text())
@example(text="😀日本\n▁é")
def test_stream_decoder_gives_decode_exactly(subword, text):
    ids = subword.encode(text)
    stream = subword.stream_decoder()
    assert "".join(stream.push(i) for i in ids) + stream.flush() == subword.decode(ids) == text


def test_id_to_text_shows_spaces_and_concatenates_for_ascii(subword):
    text = "  the kato sun\n  lome ri\n"
    ids = subword.encode(text)
    assert "".join(subword.id_to_text(i) for i in ids) == text
    assert subword.id_to_text(subword.encode("Ж")[0]) == "\ufffd"  # half a character cannot be shown alone


def test_lone_surrogate_is_a_corpus_error(subword):
    with pytest.raises(textrnn.CorpusError, match="not valid Unicode"):
        subword.encode("bad \ud800 text")
    for training_text in ("short \ud800", "long " * 2000 + "\ud800"):
        with pytest.raises(textrnn.CorpusError, match="not valid Unicode"):
            train_tokenizer(subword.type_name, [CORPUS, training_text], vocab_size=VOCAB)


# -- sentencepiece: training -----------------------------------------------------------------


@pytest.mark.parametrize("name", SUBWORD)
def test_vocab_too_large_is_a_config_error_naming_the_maximum(name):
    small = synthetic_corpus(lines=40)
    with pytest.raises(textrnn.ConfigError) as info:
        train_tokenizer(name, [small], vocab_size=5000)
    message = str(info.value)
    assert "\n" not in message and "vocab_size 5000 is too large" in message
    maximum = int(message.rsplit("set vocab_size to ", 1)[1].split()[0])
    assert train_tokenizer(name, [small], vocab_size=maximum).vocab_size == maximum  # the advice works


@pytest.mark.parametrize("name", SUBWORD)
def test_vocab_too_small_is_a_config_error(name):
    with pytest.raises(textrnn.ConfigError, match="vocab_size 100 is too small .* at least"):
        train_tokenizer(name, [CORPUS], vocab_size=100)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"vocab_sise": 300}, "did you mean 'vocab_size'"),
        ({"vocab_size": "300"}, "vocab_size must be an integer"),
        ({"vocab_size": True}, "vocab_size must be an integer"),
        ({"character_coverage": 1.5}, "character_coverage"),
        ({"input_sentence_size": -1}, "input_sentence_size must be at least 0"),
    ],
)
def test_bad_subword_options_are_config_errors(options, match):
    with pytest.raises(textrnn.ConfigError, match=match):
        train_tokenizer("bpe", [CORPUS], **options)


@pytest.mark.parametrize("name", SUBWORD)
def test_empty_training_text_is_a_corpus_error(name):
    with pytest.raises(textrnn.CorpusError, match="empty"):
        train_tokenizer(name, ["", "\n\n"], vocab_size=VOCAB)


@pytest.mark.parametrize("name", SUBWORD)
def test_training_is_reproducible_even_when_sampling(name):
    def fingerprint(**options):
        return train_tokenizer(name, [CORPUS], vocab_size=VOCAB, **options).fingerprint()

    assert fingerprint() == fingerprint()
    assert fingerprint(input_sentence_size=300) == fingerprint(input_sentence_size=300)
    assert fingerprint(input_sentence_size=300) != fingerprint(input_sentence_size=300, seed=1)


def test_training_sample_is_bounded_and_drawn_from_the_input():
    options = SubwordOptions(input_sentence_size=100)
    sample = training_sentences(iter([CORPUS, CORPUS]), options)
    assert len(sample) == 100
    lines = set(CORPUS.split("\n"))
    assert all(s in lines and "\n" not in s for s in sample)
    assert len(training_sentences([CORPUS], SubwordOptions(input_sentence_size=0))) == sum(1 for x in CORPUS.split("\n") if x)


@given(segment=st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n▁")), limit=st.integers(16, 64))
def test_long_lines_are_cut_within_the_byte_limit(segment, limit):
    chunks = list(_chunks(segment, limit))
    assert "".join(chunks) == segment
    assert all(0 < len(c.encode()) <= limit for c in chunks)


@pytest.mark.parametrize("line", [" ".join(["ЖЖ"] * 3000), "Ж" * 10000], ids=["spaced", "unbroken"])
def test_long_line_is_still_trained_on(line):
    # Over 4192 bytes, sentencepiece would drop the line whole and "Ж" would need two byte pieces.
    tok = train_tokenizer("unigram", [CORPUS, line], vocab_size=VOCAB)
    assert len(tok.encode("Ж")) == 1


# -- sentencepiece: storage ------------------------------------------------------------------


def test_subword_save_load_gives_identical_encodings(subword, tmp_path):
    fingerprint = save_tokenizer(subword, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spm.model", "tokenizer.json"]
    meta = json.loads((tmp_path / "tokenizer.json").read_text())
    assert meta["type"] == subword.type_name and meta["options"]["vocab_size"] == VOCAB
    loaded = load_tokenizer(tmp_path)
    assert type(loaded) is type(subword) and loaded.fingerprint() == fingerprint
    for text in TRICKY + [CORPUS]:
        assert loaded.encode(text) == subword.encode(text)


def test_corrupted_model_byte_is_detected(bpe, tmp_path):
    save_tokenizer(bpe, tmp_path)
    path = tmp_path / "spm.model"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(textrnn.RunError, match="does not match the sha256"):
        load_tokenizer(tmp_path)


def test_missing_model_file_is_detected(bpe, tmp_path):
    save_tokenizer(bpe, tmp_path)
    (tmp_path / "spm.model").unlink()
    with pytest.raises(textrnn.RunError, match="missing"):
        load_tokenizer(tmp_path)


def test_swapped_model_with_edited_hash_fails_the_fingerprint(bpe, tmp_path):
    other = train_tokenizer("bpe", [CORPUS], vocab_size=VOCAB + 10)
    save_tokenizer(bpe, tmp_path)
    (tmp_path / "spm.model").write_bytes(other.model_bytes)
    meta = json.loads((tmp_path / "tokenizer.json").read_text())
    meta["sha256"] = other.to_meta()["sha256"]
    (tmp_path / "tokenizer.json").write_text(json.dumps(meta))
    with pytest.raises(textrnn.RunError, match="fingerprint"):
        load_tokenizer(tmp_path)


# -- word -----------------------------------------------------------------------------------

PTB = " the cat sat on the mat \n the dog <unk> on a log \n a cat ran \n"


@pytest.fixture(scope="module")
def word():
    return train_tokenizer("word", [PTB])


def test_word_vocabulary_is_ordered_by_count_then_text(word):
    # the: 3, a/cat/on: 2, then the rest alphabetically; PTB's literal <unk> is the unknown id.
    assert word.words == ["<unk>", "<eos>", "the", "a", "cat", "on", "dog", "log", "mat", "ran", "sat"]
    assert word.unknown_ids() == [0] and word.newline_id == 1


def test_word_encode_emits_one_eos_per_newline(word):
    ids = word.encode("the cat\nsat on\n")
    assert [word.words[i] for i in ids] == ["the", "cat", "<eos>", "sat", "on", "<eos>"]
    assert word.encode("the cat") == word.encode("the cat\n")[:-1]  # no newline, no <eos>
    ptb_ids = word.encode(PTB)
    assert ptb_ids.count(word.newline_id) == PTB.count("\n") == 3
    assert ptb_ids.count(0) == 1  # the literal <unk>
    assert word.encode("the zebra") == [word.words.index("the"), 0]


words_in_vocab = st.sampled_from(["the", "a", "cat", "on", "dog", "log", "mat", "ran", "sat"])
normal_text = st.lists(st.lists(words_in_vocab, max_size=6).map(" ".join), min_size=1, max_size=6).map("\n".join)


@given(text=normal_text)
def test_word_round_trip_for_normalised_text(word, text):
    assert WordTokenizer.normalize(text) == text
    assert word.decode(word.encode(text)) == text


@fuzz
@given(text=st.lists(st.sampled_from(["the", "cat", "zebra", " ", "  ", "\t", "\n", "\r", "é"])).map("".join))
def test_word_decode_is_normalised_text_with_unknowns(word, text):
    unknowns = "\n".join(" ".join(w if w in word.words else "<unk>" for w in line.split()) for line in text.split("\n"))
    assert word.decode(word.encode(text)) == unknowns


def test_word_min_count_and_max_vocab():
    assert train_tokenizer("word", [PTB], min_count=2).words == ["<unk>", "<eos>", "the", "a", "cat", "on"]
    capped = train_tokenizer("word", [PTB], max_vocab=4)
    assert capped.vocab_size == 4 and capped.words[2:] == ["the", "a"]
    assert capped.decode(capped.encode("the dog\n")) == "the <unk>\n"


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"min_count": 4}, textrnn.ConfigError, "leaves no words"),
        ({"min_count": 0}, textrnn.ConfigError, "min_count"),
        ({"max_vocab": 2}, textrnn.ConfigError, "max_vocab"),
        ({"max_vocabulary": 10}, textrnn.ConfigError, "no option 'max_vocabulary'"),
    ],
)
def test_bad_word_options(options, error, match):
    with pytest.raises(error, match=match):
        train_tokenizer("word", [PTB], **options)


def test_word_needs_words():
    with pytest.raises(textrnn.CorpusError):
        train_tokenizer("word", [" \n\n <unk> \n"])


def test_word_id_to_text_streams_with_leading_spaces(word):
    ids = word.encode("the cat\nran")
    assert "".join(word.id_to_text(i) for i in ids) == " the cat\n ran"
    assert word.decode([999, -3]) == "<unk> <unk>"


def test_word_save_load_gives_identical_encodings(word, tmp_path):
    fingerprint = save_tokenizer(word, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer.json"]
    loaded = load_tokenizer(tmp_path)
    assert loaded.fingerprint() == fingerprint and loaded.encode(PTB) == word.encode(PTB)


def test_word_edited_vocabulary_is_detected(word, tmp_path):
    save_tokenizer(word, tmp_path)
    meta = json.loads((tmp_path / "tokenizer.json").read_text())
    meta["words"][0] = "two words"
    (tmp_path / "tokenizer.json").write_text(json.dumps(meta))
    with pytest.raises(textrnn.RunError):
        load_tokenizer(tmp_path)


# -- char (fuzz) ----------------------------------------------------------------------------

CHAR_TRAINING = "abc xyz\nÉté 😀日本\t"


@pytest.fixture(scope="module")
def char():
    return train_tokenizer("char", [CHAR_TRAINING])


@fuzz
@given(text=st.text(alphabet=st.sampled_from(sorted(set(CHAR_TRAINING)))))
def test_char_round_trip_on_training_characters(char, text):
    assert char.decode(char.encode(text)) == text


@fuzz
@given(text=st.text())
def test_char_never_crashes_on_unseen_text(char, text):
    decoded = char.decode(char.encode(text))
    assert len(decoded) == len(text)
    assert all(d == c if c in CHAR_TRAINING else d == "\ufffd" for c, d in zip(text, decoded))

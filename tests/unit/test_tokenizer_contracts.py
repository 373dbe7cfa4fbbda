"""textrnn.testing.check_tokenizer: every registered tokenizer keeps the contracts, and each contract can fail."""

from __future__ import annotations

import itertools

import pytest

import textrnn
from textrnn.plugins import register_plugin
from textrnn.registry import tokenizers
from textrnn.testing import check_tokenizer
from textrnn_char import CharTokenizer
from textrnn_word import WordTokenizer

# options that let each first-party tokenizer train on check_tokenizer's sample texts
OPTIONS = {"char": {}, "word": {"lossless": False}, "bpe": {"vocab_size": 400}, "unigram": {"vocab_size": 330}}


@pytest.mark.parametrize("name", sorted(tokenizers()))
def test_registered_tokenizer_keeps_the_contracts(name):
    checked = check_tokenizer(name, **OPTIONS.get(name, {}))
    assert {"interface", "vocab bounds", "round trip", "fingerprint", "file bytes", "save/load",
            "deterministic training"} <= set(checked)


def test_every_first_party_tokenizer_is_checked_with_its_capabilities():
    assert set(OPTIONS) <= set(tokenizers())
    assert "per-token decoding" in check_tokenizer("char")
    assert {"threaded encoding", "stream decoding"} <= set(check_tokenizer("bpe", vocab_size=400))


# -- each contract fails when it should ------------------------------------------------------------

_calls = itertools.count()


class Flawed(CharTokenizer):
    """A char tokenizer with one flaw, registered as type "flawed" so that it loads back."""

    type_name = "flawed"
    flaw = None

    def encode(self, text):
        ids = super().encode(text)
        if self.flaw == "id out of range":
            return [self.vocab_size if i == 0 else i for i in ids]
        return ids

    def decode(self, ids):
        text = super().decode(ids)
        return text[:-1] if self.flaw == "lossy decode" and len(text) > 1 else text

    def to_meta(self):
        meta = super().to_meta()
        if self.flaw == "unstable fingerprint":
            meta["calls"] = next(_calls)
        return meta

    @classmethod
    def from_meta(cls, meta, directory):
        loaded = super().from_meta(meta, directory)
        if cls.flaw == "loads another vocabulary":  # the two last characters swapped: same size, same newline
            loaded.chars[-2:] = loaded.chars[:-3:-1]
            loaded._index = {c: i + 1 for i, c in enumerate(loaded.chars)}
        return loaded

    def fingerprint(self):
        if self.flaw == "loads another vocabulary":  # would otherwise be caught by load_tokenizer's own check
            return "0" * 64
        return super().fingerprint()

    def save_files(self, directory):
        if self.flaw == "unhashed file":
            (directory / "extra.txt").write_text("not in file_bytes")
            return ["extra.txt"]
        return []

    @classmethod
    def train(cls, texts, **options):
        tokenizer = super().train(texts, **options)
        if cls.flaw == "random training":
            return cls([*tokenizer.chars, chr(0x4E00 + next(_calls) % 100)])
        return tokenizer


def registered(cls):
    """Register ``cls`` under its type_name, as a plugin would, so that load_tokenizer finds it."""
    class Plugin:
        @textrnn.hookimpl
        def register_tokenizers(self, register):
            register(cls.type_name, cls)

    register_plugin(Plugin(), name=f"{cls.type_name}-tokenizer")
    return cls


def flawed(flaw):
    return registered(type("FlawedTokenizer", (Flawed,), {"flaw": flaw}))


def test_a_sound_tokenizer_passes():
    assert "save/load" in check_tokenizer(flawed(None))


@pytest.mark.parametrize("flaw, contract, detail", [
    ("id out of range", "vocab bounds", "outside 0.."),
    ("lossy decode", "round trip", "decode"),
    ("unstable fingerprint", "fingerprint", "two calls"),
    ("unhashed file", "file bytes", "save_files wrote"),
    ("loads another vocabulary", "save/load", "encodes .* differently"),
    ("random training", "fingerprint", "training twice"),
])
def test_a_broken_tokenizer_fails_the_contract_it_breaks(flaw, contract, detail):
    with pytest.raises(AssertionError, match=f"contract '{contract}' failed for tokenizer 'flawed': .*{detail}"):
        check_tokenizer(flawed(flaw), name="flawed")


def test_a_false_capability_claim_fails():
    @registered
    class Claims(WordTokenizer):
        type_name = "claims"
        decodes_per_token = True  # false for words: decode puts spaces between them

    with pytest.raises(AssertionError, match="contract 'per-token decoding' failed"):
        check_tokenizer(Claims.train(["one two three\n"] * 3), ["one two three\n"], lossless=False)


def test_registered_name_must_be_the_type_name():
    class Plugin:
        @textrnn.hookimpl
        def register_tokenizers(self, register):
            register("alias", CharTokenizer)

    register_plugin(Plugin(), name="alias-tokenizer")
    with pytest.raises(AssertionError, match="contract 'interface' failed.*registered as 'alias'"):
        check_tokenizer("alias")

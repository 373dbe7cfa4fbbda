"""Contract checks for tokenizer plugins (:func:`check_tokenizer`, re-exported by :mod:`textrnn.testing`).

    from textrnn.testing import check_tokenizer

    def test_mytokenizer_keeps_the_contracts():
        check_tokenizer("mytokenizer", vocab_size=300)

A failure raises :class:`AssertionError` naming the contract, for example
``contract 'save/load' failed for tokenizer 'mytok': ...``. The contracts are those of
:class:`textrnn.contracts.TokenizerContract` and the optional capabilities a tokenizer
declares (``threaded_encode``, ``decodes_per_token``, ``stream_decoder``).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any, Sequence

from .contracts import PerTokenDecoding, StreamDecoding, ThreadedEncoding, TokenizerContract, supports

GRANULARITIES = ("char", "subword", "word")

# Training text with what tokenizers stumble on: newlines, runs of spaces, punctuation,
# accents, a character outside the BMP and sentencepiece's own U+2581.
SAMPLE_TEXTS = [
    "The quick brown fox jumps over the lazy dog.\n",
    "ROMEO:\nBut, soft! what light through yonder window breaks?\n",
    "naïve café, résumé -- déjà vu; 3.14 + 2 = 5.14\n",
    "tabs\tand  double  spaces,\n\nblank lines and 🙂 emoji\n",
    "sentencepiece's own mark \u2581 inside text\n",
] * 8
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_tokenizer(tokenizer_or_factory: Any, texts: Sequence[str] | None = None, *, lossless: bool = True,
                    name: str | None = None, **train_options: Any) -> list[str]:
    """Check a tokenizer against textrnn's tokenizer contracts.

    :param tokenizer_or_factory: a trained tokenizer; a tokenizer class (trained here with
        ``cls.train(texts, **train_options)``); the name a plugin registered (likewise); or
        a callable ``factory(texts)`` returning a trained tokenizer.
    :param texts: training and test texts (a varied sample by default).
    :param lossless: whether ``decode(encode(text)) == text`` must hold for text made of
        what it was trained on; with ``False`` (a word tokenizer normalises spaces) one
        decode must reach a normal form: encoding it again gives the same ids.
    :param name: how failures name the tokenizer (defaults to its ``type_name``).
    :returns: the names of the contracts checked.
    """
    texts = list(texts if texts is not None else SAMPLE_TEXTS)
    tokenizer, registered = _build(tokenizer_or_factory, texts, train_options)
    checker = _TokenizerChecker(tokenizer, name or registered or getattr(tokenizer, "type_name", "?"))
    checker.interface(registered)
    checker.vocab_bounds(texts)
    checker.round_trip(texts, lossless)
    checker.fingerprint_and_files()
    checker.save_load(texts)
    if isinstance(tokenizer_or_factory, (str, type)) or callable(tokenizer_or_factory):
        checker.retrains_the_same(_build(tokenizer_or_factory, texts, train_options)[0])
    checker.capabilities(texts)
    return checker.checked


def _build(source: Any, texts: list[str], options: dict) -> tuple[Any, str | None]:
    if isinstance(source, str):
        from .registry import get_tokenizer

        return get_tokenizer(source).cls.train(texts, **options), source
    if isinstance(source, type):
        return source.train(texts, **options), None
    if supports(source, TokenizerContract):
        return source, None
    if callable(source):
        return source(texts), None
    raise TypeError(f"check_tokenizer needs a tokenizer, its class, its registered name or a factory, "
                    f"not {type(source).__name__}")


class _TokenizerChecker:
    def __init__(self, tokenizer: Any, name: str):
        self.tok = tokenizer
        self.what = f"tokenizer {name!r}"
        self.checked: list[str] = []

    def fail(self, contract: str, detail: str) -> None:
        raise AssertionError(f"contract {contract!r} failed for {self.what}: {detail}")

    def ok(self, contract: str) -> None:
        self.checked.append(contract)

    def interface(self, registered: str | None) -> None:
        tok = self.tok
        if not supports(tok, TokenizerContract):
            missing = [m for m in ("type_name", "granularity", "vocab_size", "encode", "decode", "newline_id",
                                   "unknown_ids", "to_meta", "save_files", "file_bytes", "fingerprint")
                       if not hasattr(tok, m)]
            self.fail("interface", f"lacks {', '.join(missing)} (textrnn.contracts.TokenizerContract)")
        if not isinstance(tok.type_name, str) or not tok.type_name:
            self.fail("interface", "type_name must be the non-empty name the tokenizer is registered under")
        if registered is not None and tok.type_name != registered:
            self.fail("interface", f"registered as {registered!r} but its type_name is {tok.type_name!r}; "
                      "load_tokenizer finds it by type_name")
        if tok.granularity not in GRANULARITIES:
            self.fail("interface", f"granularity {tok.granularity!r} is not one of {GRANULARITIES}")
        for flag in ("threaded_encode", "decodes_per_token"):
            if getattr(tok, flag, False) not in (True, False):
                self.fail("interface", f"{flag} must be True or False, not {getattr(tok, flag)!r}")
        self.ok("interface")

    def vocab_bounds(self, texts: list[str]) -> None:
        tok, size = self.tok, self.tok.vocab_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            self.fail("vocab bounds", f"vocab_size must be a positive int, got {size!r}")
        for text in [*texts, "", "text with unseen characters: \u4e2d\u6587 \u00a7"]:
            ids = tok.encode(text)
            bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < size]
            if bad:
                self.fail("vocab bounds", f"encode({text[:30]!r}) gave {bad[:3]}, outside 0..{size - 1}")
        if texts and tok.encode_batch(texts[:3]) != [tok.encode(t) for t in texts[:3]]:
            self.fail("vocab bounds", "encode_batch(texts) differs from encode on each text")
        for i in tok.unknown_ids():
            if not 0 <= i < size:
                self.fail("vocab bounds", f"unknown id {i} is outside 0..{size - 1}")
        newline = tok.newline_id
        if newline is not None:
            if not 0 <= newline < size or newline in tok.unknown_ids():
                self.fail("vocab bounds", f"newline_id {newline} is outside 0..{size - 1} or unknown")
            if "\n" not in tok.decode([newline]):
                self.fail("vocab bounds", f"newline_id {newline} decodes to {tok.decode([newline])!r}, not a newline")
        self.ok("vocab bounds")

    def round_trip(self, texts: list[str], lossless: bool) -> None:
        tok = self.tok
        for text in texts:
            decoded = tok.decode(tok.encode(text))
            if lossless and decoded != text:
                self.fail("round trip", f"decode(encode({text!r})) is {decoded!r}")
            if tok.encode(decoded) != tok.encode(tok.decode(tok.encode(decoded))):
                self.fail("round trip", f"decoding {text!r} reaches no normal form: encode(decode(...)) keeps changing")
        self.ok("round trip")

    def fingerprint_and_files(self) -> None:
        tok = self.tok
        first = tok.fingerprint()
        if not isinstance(first, str) or not _HEX_SHA256.fullmatch(first):
            self.fail("fingerprint", f"fingerprint() must be a hex sha256, got {first!r}")
        if tok.fingerprint() != first:
            self.fail("fingerprint", "two calls give different fingerprints")
        files = tok.file_bytes()
        if not isinstance(files, dict) or not all(isinstance(v, bytes) for v in files.values()):
            self.fail("file bytes", "file_bytes() must return {file name: bytes}")
        if tok.file_bytes() != files:
            self.fail("file bytes", "two calls of file_bytes() differ")
        try:
            json.dumps(tok.to_meta())
        except (TypeError, ValueError) as exc:
            self.fail("save/load", f"to_meta() is not JSON: {exc}")
        with tempfile.TemporaryDirectory() as tmp:
            written = tok.save_files(Path(tmp))
            on_disk = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
        if sorted(written) != sorted(on_disk) or on_disk != files:
            self.fail("file bytes", f"file_bytes() has {sorted(files)}, but save_files wrote {sorted(on_disk)} "
                      "(or other bytes); the fingerprint must cover exactly what is saved")
        self.ok("fingerprint")
        self.ok("file bytes")

    def save_load(self, texts: list[str]) -> None:
        from .errors import TextrnnError
        from .tokenizers import load_tokenizer, save_tokenizer

        tok = self.tok
        with tempfile.TemporaryDirectory() as tmp:
            fingerprint = save_tokenizer(tok, Path(tmp) / "tok")
            try:  # as a run stores it and every command loads it, by type_name from the registry
                loaded = load_tokenizer(Path(tmp) / "tok")
            except TextrnnError as exc:
                self.fail("save/load", f"load_tokenizer refuses what save_tokenizer wrote: {exc}")
        if fingerprint != tok.fingerprint() or loaded.fingerprint() != fingerprint:
            self.fail("save/load", "the loaded tokenizer has another fingerprint")
        if type(loaded) is not type(tok):
            self.fail("save/load", f"loads back as {type(loaded).__name__}, not {type(tok).__name__}")
        same = [(a, b) for a, b in ((tok.vocab_size, loaded.vocab_size), (tok.newline_id, loaded.newline_id),
                                    (tok.unknown_ids(), loaded.unknown_ids())) if a != b]
        if same:
            self.fail("save/load", f"the loaded tokenizer differs: {same[0][0]!r} -> {same[0][1]!r}")
        for text in texts:
            if loaded.encode(text) != tok.encode(text):
                self.fail("save/load", f"the loaded tokenizer encodes {text!r} differently")
        self.ok("save/load")

    def retrains_the_same(self, again: Any) -> None:
        if again.fingerprint() != self.tok.fingerprint():
            self.fail("fingerprint", "training twice on the same texts gives two fingerprints; the token cache "
                      "and resume key on it, so training must be deterministic")
        self.ok("deterministic training")

    def capabilities(self, texts: list[str]) -> None:
        tok = self.tok
        if supports(tok, ThreadedEncoding):
            self.ok("threaded encoding")  # a declaration only: nothing to run
        if supports(tok, PerTokenDecoding):
            for text in texts:
                ids = tok.encode(text)
                if "".join(tok.id_to_text(i) for i in ids) != tok.decode(ids):
                    self.fail("per-token decoding", f"decodes_per_token is set, but {text!r} decodes "
                              "differently one id at a time")
            self.ok("per-token decoding")
        if supports(tok, StreamDecoding):
            for text in texts:
                ids = tok.encode(text)
                stream = tok.stream_decoder()
                pieces = "".join(stream.push(i) for i in ids) + stream.flush()
                if pieces != tok.decode(ids):
                    self.fail("stream decoding", f"stream_decoder() pieces of {text!r} join to {pieces!r}")
            self.ok("stream decoding")


__all__ = ["check_tokenizer", "SAMPLE_TEXTS"]

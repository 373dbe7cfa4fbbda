"""Lossless sentencepiece tokenizers: ``decode(encode(text)) == text`` for any string.

How text survives sentencepiece unchanged:

* Newlines: ``"\\n"`` is a user-defined piece, so it is always exactly one token
  (:attr:`newline_id`) and no piece spans two lines. Text is cut at newlines before it
  reaches the processor, which is also faster for BPE than one long string.
* Spaces: no normalisation, no dummy leading space, extra spaces kept; a space is
  written ``▁`` (U+2581) inside pieces, and ``"▁word"`` and ``"word"`` are different
  pieces. A literal U+2581 in the text is encoded as its three UTF-8 byte pieces,
  because given to sentencepiece it would come back as a space.
* Unseen characters: byte fallback spells any character that has no piece of its own
  as byte pieces ``<0xE2>``..., so nothing encodes to ``<unk>``.

The model is stored as ``spm.model`` beside ``tokenizer.json``, which records its
sha256; loading reads it with ``SentencePieceProcessor(model_proto=...)`` after
checking the hash.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from textrnn import CorpusError, RunError
from textrnn.tokenizers import Tokenizer

from .options import SubwordOptions, make_options
from .training import NEWLINE, SPACE_MARK, SPLIT, train_model

MODEL_FILE = "spm.model"


def _encode_threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


class SentencePieceTokenizer(Tokenizer):
    """A trained sentencepiece model; subclasses fix the model type."""

    model_type: str = ""
    # sentencepiece encodes on its own threads: lm_data tokenizes in-process (textrnn.contracts.ThreadedEncoding)
    threaded_encode = True

    def __init__(self, model: bytes, options: dict[str, Any]):
        import sentencepiece as spm

        self.model_bytes = bytes(model)
        self.options = dict(options)
        try:
            sp = spm.SentencePieceProcessor(model_proto=self.model_bytes)
        except (RuntimeError, TypeError) as exc:
            raise RunError(f"{self.type_name} tokenizer model cannot be read: {exc}") from None
        self._sp = sp
        self._size = sp.get_piece_size()
        unk = sp.unk_id()
        self._newline = sp.piece_to_id(NEWLINE)
        byte_ids = [sp.piece_to_id(f"<0x{b:02X}>") for b in range(256)]
        if self._newline == unk or unk in byte_ids:
            # Without these the round trip guarantee is gone; textrnn never trains such a model.
            raise RunError(f"{self.type_name} tokenizer model lacks the newline piece or byte pieces")
        self._byte_ids = byte_ids
        self._escape = [byte_ids[b] for b in SPACE_MARK.encode("utf-8")]  # U+2581 as <0xE2><0x96><0x81>
        self._special = [i for i in range(self._size) if sp.is_unknown(i) or sp.is_control(i)]
        self._threads = _encode_threads()

    # -- training and storage ---------------------------------------------------------

    @classmethod
    def train(cls, texts: Iterable[str], **options: Any) -> "SentencePieceTokenizer":
        """Train on ``texts`` (the training split only). Options: see :class:`SubwordOptions`."""
        what = f"{cls.type_name} tokenizer"
        opts = make_options(options, what)
        model = train_model(texts, cls.model_type, opts, what)
        return cls(model, dataclasses.asdict(opts))

    def to_meta(self) -> dict[str, Any]:
        return {
            "model_type": self.model_type,
            "options": self.options,
            "vocab_size": self.vocab_size,
            "model_file": MODEL_FILE,
            "sha256": hashlib.sha256(self.model_bytes).hexdigest(),
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any], directory: Path) -> "SentencePieceTokenizer":
        path = Path(directory) / MODEL_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RunError(f"{cls.type_name} tokenizer model {path} is missing") from None
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            raise RunError(f"{path} does not match the sha256 in tokenizer.json (corrupt or replaced)")
        return cls(data, meta.get("options", {}))

    def save_files(self, directory: Path) -> list[str]:
        (Path(directory) / MODEL_FILE).write_bytes(self.model_bytes)
        return [MODEL_FILE]

    def file_bytes(self) -> dict[str, bytes]:
        return {MODEL_FILE: self.model_bytes}

    # -- encoding ---------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self._size

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Encode many texts at once, on up to 8 threads inside sentencepiece."""
        texts = list(texts)
        if not any(NEWLINE in t or SPACE_MARK in t for t in texts):
            return self._encode_segments(texts)  # common case for short texts: one call
        # Cut every text at newlines and literal U+2581, encode all segments in one
        # batch, then put each text back together with the separators' ids.
        layouts = [SPLIT.split(t) for t in texts]
        segments = [s for parts in layouts for s in parts[::2] if s]
        encoded = iter(self._encode_segments(segments))
        newline, escape = self._newline, self._escape
        result = []
        for parts in layouts:
            ids: list[int] = []
            for k, part in enumerate(parts):
                if k % 2:
                    if part == NEWLINE:
                        ids.append(newline)
                    else:
                        ids.extend(escape)
                elif part:
                    ids.extend(next(encoded))
            result.append(ids)
        return result

    def _encode_segments(self, segments: list[str]) -> list[list[int]]:
        try:
            return self._sp.encode(segments, num_threads=self._threads)
        except (TypeError, RuntimeError):
            for text in segments:
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as exc:  # a lone surrogate: not text sentencepiece can take
                    raise CorpusError(f"text is not valid Unicode: {exc.reason} at {text[exc.start:exc.end]!r}") from None
            raise

    # -- decoding ---------------------------------------------------------------------

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``; an id outside the vocabulary decodes as U+FFFD, like ``<unk>``."""
        size, unk = self._size, self._sp.unk_id()
        clean = [i if 0 <= i < size else unk for i in map(int, ids)]
        return self._sp.decode(clean)

    def id_to_bytes(self, token_id: int) -> bytes:
        """UTF-8 bytes of one token; concatenated over a sequence they are ``decode(ids)``.

        A byte piece is one raw byte, possibly part of a multi-byte character, so this is
        what an exact streaming decoder works from (see :meth:`stream_decoder`).
        """
        sp = self._sp
        token_id = int(token_id)
        if not 0 <= token_id < self._size or sp.is_unknown(token_id):
            return "\ufffd".encode("utf-8")
        if sp.is_control(token_id):
            return b""
        piece = sp.id_to_piece(token_id)
        if sp.is_byte(token_id):
            return bytes([int(piece[3:5], 16)])  # "<0xE2>" -> b"\xe2"
        return piece.replace(SPACE_MARK, " ").encode("utf-8")

    def id_to_text(self, token_id: int) -> str:
        """Text of one token for streaming, with ``▁`` shown as a space.

        Pieces carry their own spaces (``"▁the"`` -> ``" the"``), so concatenating
        ``id_to_text`` over ids gives ``decode(ids)`` except for byte pieces: a byte
        below 0x80 is its ASCII character, but one byte of a multi-byte character
        cannot be shown alone and gives U+FFFD. Use :meth:`stream_decoder` for exact
        streaming output.
        """
        return self.id_to_bytes(token_id).decode("utf-8", "replace")

    def stream_decoder(self) -> "StreamDecoder":
        """A decoder that takes ids one at a time and returns text as soon as it is complete."""
        return StreamDecoder(self)

    @property
    def newline_id(self) -> int | None:
        return self._newline

    def unknown_ids(self) -> list[int]:
        """``<unk>`` (and any control piece): never produced by encode, never to be sampled."""
        return list(self._special)


class StreamDecoder:
    """Incremental decoding: ``"".join(push(i) for i in ids) + flush() == decode(ids)``.

    Bytes of a character split over several byte pieces are held back until the
    character is complete. (For valid UTF-8 the equality is exact; an invalid byte
    sequence becomes U+FFFD here and in ``decode``, though not always as many.)
    """

    def __init__(self, tokenizer: SentencePieceTokenizer):
        self._bytes_of = tokenizer.id_to_bytes
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        return self._utf8.decode(self._bytes_of(token_id))

    def flush(self) -> str:
        return self._utf8.decode(b"", final=True)


class BPETokenizer(SentencePieceTokenizer):
    """Byte-pair-encoding subwords (sentencepiece, byte fallback): lossless for any text."""

    type_name = "bpe"
    model_type = "bpe"


class UnigramTokenizer(SentencePieceTokenizer):
    """Unigram language-model subwords (sentencepiece, byte fallback): lossless for any text."""

    type_name = "unigram"
    model_type = "unigram"

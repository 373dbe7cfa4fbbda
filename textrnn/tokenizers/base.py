"""The tokenizer interface and how a tokenizer is stored inside a run directory.

A stored tokenizer is a directory holding ``tokenizer.json`` (``{"type": NAME,
...}``, plain JSON) plus any files the type needs (a sentencepiece model, say).
Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..atomic import json_bytes, replace_dir, write_new
from ..errors import RunError

META_FILE = "tokenizer.json"


class Tokenizer(ABC):
    """Maps text to integer ids and back.

    Subclasses set ``type_name`` and implement ``train``, ``encode``, ``decode``,
    ``vocab_size``, ``to_meta``/``from_meta`` (JSON-able description) and, when they
    own extra files, ``save_files`` and ``file_bytes``. The full contract, and the
    optional capabilities, are in :mod:`textrnn.contracts` (``TokenizerContract``);
    :func:`textrnn.testing.check_tokenizer` checks a tokenizer keeps it.
    """

    type_name: str = ""
    # "char", "subword" or "word": what a token is, so training defaults can suit it
    # (textrnn.training.lm_defaults); a tokenizer that does not say counts as subword.
    granularity: str = "subword"
    # True where encode already spreads over the cores (textrnn.contracts.ThreadedEncoding)
    threaded_encode: bool = False

    @classmethod
    @abstractmethod
    def train(cls, texts: Iterable[str], **options: Any) -> "Tokenizer":
        """Build the vocabulary from training text only."""

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @abstractmethod
    def encode(self, text: str) -> list[int]: ...

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str: ...

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def id_to_text(self, token_id: int) -> str:
        """Text of one token, for streaming output. Override where decode is contextual."""
        return self.decode([token_id])

    @property
    def newline_id(self) -> int | None:
        """Id to start generation from when the prompt is empty, if the vocabulary has one."""
        return None

    def unknown_ids(self) -> list[int]:
        """Ids that generation must never sample (an ``<unk>`` placeholder, say)."""
        return []

    @abstractmethod
    def to_meta(self) -> dict[str, Any]:
        """JSON-able description; with ``save_files`` it must rebuild the tokenizer."""

    @classmethod
    @abstractmethod
    def from_meta(cls, meta: dict[str, Any], directory: Path) -> "Tokenizer": ...

    def save_files(self, directory: Path) -> list[str]:
        """Write extra files into ``directory`` and return their names."""
        return []

    def fingerprint(self) -> str:
        """sha256 over the description and every file; identifies the tokenizer."""
        h = hashlib.sha256(json.dumps(self.to_meta(), sort_keys=True).encode())
        for name, data in sorted(self.file_bytes().items()):
            h.update(name.encode())
            h.update(data)
        return h.hexdigest()

    def file_bytes(self) -> dict[str, bytes]:
        """``{name: bytes}`` of every file :meth:`save_files` writes, the same on every call
        (:meth:`fingerprint` hashes them)."""
        return {}


def train_tokenizer(name: str, texts: Iterable[str], **options: Any) -> Tokenizer:
    from ..registry import get_tokenizer

    return get_tokenizer(name).cls.train(texts, **options)


def save_tokenizer(tokenizer: Tokenizer, directory: Path) -> str:
    """Store ``tokenizer`` as ``directory``, replacing what was there; returns its fingerprint.

    Atomic: the files are written into a temporary sibling that is renamed into place,
    so a crash mid-save leaves the old tokenizer directory or the new one, never a mix.
    """
    def fill(tmp: Path) -> str:
        files = tokenizer.save_files(tmp)
        meta = {"type": tokenizer.type_name, "fingerprint": tokenizer.fingerprint(), "files": files,
                **tokenizer.to_meta()}
        write_new(tmp / META_FILE, json_bytes(meta), durable=False)  # replace_dir fsyncs every file
        return meta["fingerprint"]

    return replace_dir(Path(directory), fill)


def load_tokenizer(directory: Path) -> Tokenizer:
    """Load a stored tokenizer, checking its fingerprint."""
    from ..registry import get_tokenizer

    path = directory / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        kind = meta["type"]
    except FileNotFoundError:
        raise RunError(f"no tokenizer in {directory} ({META_FILE} is missing)") from None
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} is corrupt: {exc}") from None
    tokenizer = get_tokenizer(kind).cls.from_meta(meta, directory)
    if meta.get("fingerprint") and tokenizer.fingerprint() != meta["fingerprint"]:
        raise RunError(f"tokenizer in {directory} does not match its recorded fingerprint (corrupt or edited)")
    return tokenizer

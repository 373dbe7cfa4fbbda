"""The whole-text corpus loader that textrnn used before the streaming token cache.

It is kept here, in the tests, as the reference the streaming pipeline must agree with:
the same train/valid split of the text, and the same text fingerprint for runs recorded
before the cache existed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from textrnn.data.sources import expand
from textrnn.data.text import default_corpus, read_text
from textrnn.errors import CorpusError


@dataclass
class Corpus:
    """Text of a corpus and where it came from."""

    text: str
    files: list[str]
    fingerprint: str


def load_corpus(paths: list[str | Path], encoding_errors: str = "strict") -> Corpus:
    files = expand(paths)  # the file listing is not what this reference checks
    texts = [read_text(p, encoding_errors) for p in files]
    text = "".join(texts)
    if not text.strip():
        names = ", ".join(str(p) for p in files)
        raise CorpusError(f"{names}: corpus is empty")
    fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Corpus(text, [str(p) for p in files], fingerprint)


def split_text(text: str, valid_fraction: float) -> tuple[str, str]:
    """Contiguous split: the last ``valid_fraction`` of the characters is validation."""
    cut = int(len(text) * (1.0 - valid_fraction))
    return text[:cut], text[cut:]


def load_lm_texts(corpus: list[str], valid: str | None, valid_fraction: float,
                  encoding_errors: str = "strict") -> tuple[str, str, dict]:
    """Training text, validation text and corpus provenance for a language-model run."""
    loaded = load_corpus(corpus or [default_corpus()], encoding_errors)
    if valid:
        train_text, valid_text = loaded.text, load_corpus([valid], encoding_errors).text
    else:
        train_text, valid_text = split_text(loaded.text, valid_fraction)
    if not valid_text.strip():
        raise CorpusError("validation text is empty; raise --valid-fraction or pass --valid FILE")
    return train_text, valid_text, {"files": loaded.files, "fingerprint": loaded.fingerprint}

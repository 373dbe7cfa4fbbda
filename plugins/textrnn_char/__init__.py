"""Character tokenizer plugin: one id per Unicode code point seen in training text.

Unseen characters: id 0 is ``<unk>``, reserved in every vocabulary. A character that
was not in the training text encodes to it, and ``<unk>`` decodes to U+FFFD (the
replacement character). Generation never samples ``<unk>``. Any text whose characters
all occur in the training text round-trips exactly.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

import textrnn
from textrnn.tokenizers import Tokenizer

__version__ = textrnn.__version__

UNK = "\ufffd"


class CharTokenizer(Tokenizer):
    """One token per character; unseen characters map to <unk> (id 0)."""

    type_name = "char"
    granularity = "char"  # textrnn.training.lm_defaults picks sizes and rates by this
    decodes_per_token = True  # one id is one character: generation streams id_to_text per token

    def __init__(self, chars: Sequence[str]):
        self.chars = list(chars)  # index i+1 is chars[i]; id 0 is <unk>
        self._index = {c: i + 1 for i, c in enumerate(self.chars)}

    @classmethod
    def train(cls, texts: Iterable[str], **options: Any) -> "CharTokenizer":
        if options:
            raise textrnn.ConfigError(f"char tokenizer takes no options, got {sorted(options)}")
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text)
        return cls(sorted(counts))

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> list[int]:
        get = self._index.get
        return [get(c, 0) for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        chars = self.chars
        return "".join(chars[i - 1] if 0 < i <= len(chars) else UNK for i in ids)

    @property
    def newline_id(self) -> int | None:
        return self._index.get("\n")

    def unknown_ids(self) -> list[int]:
        return [0]

    def to_meta(self) -> dict[str, Any]:
        return {"chars": "".join(self.chars)}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], directory: Path) -> "CharTokenizer":
        return cls(list(meta["chars"]))


@textrnn.hookimpl
def register_tokenizers(register):
    register("char", CharTokenizer, default_for=("lm",))  # what `textrnn train lm` uses without --tokenizer

"""Word tokenizer plugin: whitespace-separated words, with ``<eos>`` for every newline.

This is the tokenization of the classic word-level benchmarks (Penn Treebank as
prepared by Mikolov, used by Zaremba et al. 2014): every ``"\\n"`` is an ``<eos>``
token, so perplexity counts one ``<eos>`` per line, and a word outside the
vocabulary is ``<unk>``. PTB's own ``<unk>`` tokens map to the same id.

Ids: 0 is ``<unk>``, 1 is ``<eos>``, then words by descending training count (ties
in code-point order), so the vocabulary is the same on every run.

Whitespace is normalised. Words are split on any whitespace except ``"\\n"``, and
decode joins the words of a line with single spaces. So ``decode(encode(text)) ==
WordTokenizer.normalize(text)``, and ``== text`` exactly for text already in that
form: lines of single-spaced words, no leading or trailing spaces, all words in
the vocabulary. Text that ends without a newline ends without ``<eos>``: there is
one ``<eos>`` per newline character, no more (PTB files end every line with
``"\\n"``, so each line still gets its ``<eos>``), and encoding stays exact when
text is split into pieces.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import textrnn
from textrnn.tokenizers import Tokenizer

__version__ = textrnn.__version__

UNK = "<unk>"
EOS = "<eos>"
UNK_ID = 0
EOS_ID = 1


@dataclass(frozen=True)
class WordOptions:
    """How the word vocabulary is built; recorded in ``tokenizer.json``."""

    min_count: int = field(default=1, metadata={"help": "drop words seen fewer times than this (they become <unk>)"})
    max_vocab: int | None = field(
        default=None, metadata={"help": "largest vocabulary, <unk> and <eos> included; most frequent words kept"}
    )

    def __post_init__(self):
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int) or self.min_count < 1:
            raise ValueError(f"min_count must be an integer of at least 1, got {self.min_count!r}")
        if self.max_vocab is not None and (
            isinstance(self.max_vocab, bool) or not isinstance(self.max_vocab, int) or self.max_vocab < 3
        ):
            raise ValueError(f"max_vocab must be an integer of at least 3 (<unk>, <eos>, one word), got {self.max_vocab!r}")


class WordTokenizer(Tokenizer):
    """Whitespace-separated words; <eos> per newline, <unk> for unseen words (PTB style)."""

    type_name = "word"
    granularity = "word"  # textrnn.training.lm_defaults picks sizes and rates by this

    def __init__(self, words: Sequence[str], options: dict[str, Any] | None = None):
        self.words = [UNK, EOS, *words]  # id i is self.words[i]
        self.options = dict(options or {})
        self._index = {w: i for i, w in enumerate(self.words)}
        if len(self._index) != len(self.words):
            raise textrnn.RunError("word tokenizer vocabulary lists a word twice")

    @staticmethod
    def normalize(text: str) -> str:
        """The form ``decode(encode(text))`` takes when every word is in the vocabulary."""
        return "\n".join(" ".join(line.split()) for line in text.split("\n"))

    @classmethod
    def train(cls, texts: Iterable[str], **options: Any) -> "WordTokenizer":
        """Count the words of ``texts`` (the training split only) and keep the frequent ones."""
        opts = _make_options(options)
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text.split())  # "\n" is whitespace too, so these are the words encode sees
        for special in (UNK, EOS):  # PTB's literal "<unk>" is the unknown word, not a vocabulary entry
            counts.pop(special, None)
        if not counts:
            raise textrnn.CorpusError("cannot train the word tokenizer: the training text has no words")
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        words = [w for w, c in ranked if c >= opts.min_count]
        if not words:
            raise textrnn.ConfigError(
                f"word tokenizer: min_count {opts.min_count} leaves no words "
                f"(the most frequent word occurs {ranked[0][1]} times)"
            )
        if opts.max_vocab is not None:
            words = words[: opts.max_vocab - 2]
        return cls(words, asdict(opts))

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        get = self._index.get
        lines = text.split("\n")
        ids: list[int] = []
        for line in lines[:-1]:
            ids.extend([get(w, UNK_ID) for w in line.split()])
            ids.append(EOS_ID)
        ids.extend([get(w, UNK_ID) for w in lines[-1].split()])  # no newline after it: no <eos>
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Words joined by single spaces, ``<eos>`` as ``"\\n"``; unknown ids as ``<unk>``."""
        words, size = self.words, len(self.words)
        lines: list[str] = []
        line: list[str] = []
        for i in map(int, ids):
            if i == EOS_ID:
                lines.append(" ".join(line))
                line = []
            else:
                line.append(words[i] if 0 <= i < size else UNK)
        lines.append(" ".join(line))
        return "\n".join(lines)

    def id_to_text(self, token_id: int) -> str:
        """``" word"`` (leading space) or ``"\\n"`` for ``<eos>``, for streaming.

        The space goes before the word so that output continuing a prompt reads
        ``"the cat" + " sat"``. A streamed line therefore starts with a space, as the
        lines of the PTB files do; ``decode`` has no such space.
        """
        token_id = int(token_id)
        if token_id == EOS_ID:
            return "\n"
        return " " + (self.words[token_id] if 0 <= token_id < len(self.words) else UNK)

    @property
    def newline_id(self) -> int | None:
        return EOS_ID

    def unknown_ids(self) -> list[int]:
        return [UNK_ID]

    def to_meta(self) -> dict[str, Any]:
        return {"options": self.options, "words": self.words[2:]}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], directory: Path) -> "WordTokenizer":
        words = meta.get("words")
        if not isinstance(words, list) or not all(isinstance(w, str) and w.split() == [w] for w in words):
            raise textrnn.RunError("word tokenizer in tokenizer.json has no valid 'words' list")
        if UNK in words or EOS in words:
            raise textrnn.RunError("word tokenizer vocabulary lists <unk> or <eos> as a word")
        return cls(words, meta.get("options", {}))


def _make_options(values: dict[str, Any]) -> WordOptions:
    try:
        return WordOptions(**values)
    except TypeError:
        names = ", ".join(WordOptions.__dataclass_fields__)
        unknown = sorted(set(values) - set(WordOptions.__dataclass_fields__))
        raise textrnn.ConfigError(f"word tokenizer has no option {', '.join(map(repr, unknown))}; options: {names}") from None
    except ValueError as exc:
        raise textrnn.ConfigError(f"word tokenizer: {exc}") from None


@textrnn.hookimpl
def register_tokenizers(register):
    register("word", WordTokenizer)

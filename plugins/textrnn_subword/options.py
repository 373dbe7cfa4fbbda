"""Training options shared by the ``bpe`` and ``unigram`` tokenizers."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from textrnn import ConfigError


@dataclass(frozen=True)
class SubwordOptions:
    """How a sentencepiece model is trained; recorded in ``tokenizer.json``."""

    vocab_size: int = field(default=2000, metadata={"help": "number of pieces, 256 byte pieces included"})
    character_coverage: float = field(
        default=1.0, metadata={"help": "share of training characters that get their own piece; the rest use bytes"}
    )
    max_sentence_length: int = field(
        default=4192, metadata={"help": "bytes per training chunk; longer lines are cut at a space"}
    )
    input_sentence_size: int = field(
        default=1_000_000, metadata={"help": "train on at most this many lines, sampled uniformly (0: all)"}
    )
    split_digits: bool = field(default=False, metadata={"help": "give every digit its own piece"})
    num_threads: int = field(
        # Fixed rather than os.cpu_count(): the unigram trainer's result depends on the
        # thread count, and the same options must give the same tokenizer on any machine.
        default=8, metadata={"help": "trainer threads (changes unigram results slightly, so it is recorded)"}
    )
    seed: int = field(default=0, metadata={"help": "seed for sampling lines when there are more than input_sentence_size"})

    def __post_init__(self):
        _check_int("vocab_size", self.vocab_size, 1)
        _check_int("max_sentence_length", self.max_sentence_length, 16)
        _check_int("input_sentence_size", self.input_sentence_size, 0)
        _check_int("num_threads", self.num_threads, 1)
        _check_int("seed", self.seed, 0)
        coverage = self.character_coverage
        if isinstance(coverage, bool) or not isinstance(coverage, (int, float)) or not 0.0 < coverage <= 1.0:
            raise ValueError(f"character_coverage must be a number in (0, 1], got {coverage!r}")
        if not isinstance(self.split_digits, bool):
            raise ValueError(f"split_digits must be true or false, got {self.split_digits!r}")


def _check_int(name: str, value: Any, minimum: int) -> None:
    # bool is an int subclass; vocab_size=True is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def make_options(values: dict[str, Any], what: str) -> SubwordOptions:
    """Validate keyword options, turning unknown names and bad values into ConfigError."""
    names = [f.name for f in dataclasses.fields(SubwordOptions)]
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{what} has no option {key!r}{hint}; options: {', '.join(names)}")
    try:
        return SubwordOptions(**values)
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None

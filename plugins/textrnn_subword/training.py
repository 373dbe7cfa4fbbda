"""Training a sentencepiece model in memory from an iterable of texts.

sentencepiece reads its input as one sentence per line and cannot represent a
newline or a literal U+2581 (its own space marker) inside a sentence. So text is cut
at both, and the trainer sees exactly the segments that
:meth:`SentencePieceTokenizer.encode` later hands to the processor; the newline is a
user-defined piece and U+2581 is spelt with byte pieces (see ``tokenizer.py``).
"""

from __future__ import annotations

import io
import random
import re
from typing import Iterable, Iterator

from textrnn import ConfigError, CorpusError

from .options import SubwordOptions

SPACE_MARK = "\u2581"  # sentencepiece writes " " as this; a literal one in text needs escaping
NEWLINE = "\n"

# Splits text into [segment, separator, segment, ...]; separators are "\n" or U+2581.
SPLIT = re.compile(f"({NEWLINE}|{SPACE_MARK})")


def trainer_arguments(model_type: str, options: SubwordOptions) -> dict:
    """Keyword arguments for ``SentencePieceTrainer.train``: a lossless setup."""
    return dict(
        model_type=model_type,
        vocab_size=options.vocab_size,
        character_coverage=options.character_coverage,
        max_sentence_length=options.max_sentence_length,
        split_digits=options.split_digits,
        num_threads=options.num_threads,
        # Lossless: no Unicode normalisation, keep every space, no dummy leading space
        # (with one, " x" and "x" at a segment start would decode alike).
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        allow_whitespace_only_pieces=True,  # runs of spaces (indentation) can be one piece
        byte_fallback=True,  # any character, seen in training or not, encodes as UTF-8 bytes
        user_defined_symbols=[NEWLINE],  # always one piece, never merged into another
        # Text is one stream: no sentence markers, so <unk> is the only special piece.
        bos_id=-1,
        eos_id=-1,
        pad_id=-1,
        unk_surface="\ufffd",  # as the char tokenizer: <unk> decodes to the replacement character
        input_sentence_size=0,  # we sample ourselves (sentencepiece's sampling is not seeded reproducibly)
        minloglevel=2,  # sentencepiece logs every step to stderr otherwise
    )


def training_sentences(texts: Iterable[str], options: SubwordOptions) -> list[str]:
    """The segments of ``texts`` that the trainer sees, sampled down to ``input_sentence_size``.

    Reservoir sampling (Algorithm R) with a seeded generator keeps memory bounded by the
    sample, whatever the corpus size, and gives the same sample on every run.
    """
    limit = options.input_sentence_size
    rng = random.Random(options.seed)
    sample: list[str] = []
    seen = 0
    for text in texts:
        for segment in SPLIT.split(text)[::2]:
            if not segment:
                continue
            for chunk in _chunks(segment, options.max_sentence_length):
                seen += 1
                if not limit or len(sample) < limit:
                    sample.append(chunk)
                else:
                    slot = rng.randrange(seen)
                    if slot < limit:
                        sample[slot] = chunk
    return sample


def _chunks(segment: str, max_bytes: int) -> Iterator[str]:
    """Cut ``segment`` into pieces of at most ``max_bytes`` UTF-8 bytes, at a space when possible.

    sentencepiece silently drops longer sentences, so an unbroken paragraph would
    otherwise vanish from training.
    """
    if len(segment) * 4 <= max_bytes:  # 4 bytes per character at most: surely short enough
        if segment:
            yield segment
        return
    while len(segment.encode("utf-8")) > max_bytes:
        head = segment.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")  # longest prefix that fits
        cut = head.rfind(" ")
        if cut <= 0:  # no space to cut at: cut inside the word
            cut = len(head)
        yield segment[:cut]
        segment = segment[cut:]  # the space starts the next chunk, as "▁word" pieces expect
    if segment:
        yield segment


def train_model(texts: Iterable[str], model_type: str, options: SubwordOptions, what: str) -> bytes:
    """Train a sentencepiece model on ``texts`` only and return its serialized bytes."""
    import sentencepiece as spm

    invalid = CorpusError(f"cannot train the {what}: the training text is not valid Unicode (a lone surrogate)")
    try:
        sample = training_sentences(texts, options)
    except UnicodeEncodeError:
        raise invalid from None
    if not sample:
        raise CorpusError(f"cannot train the {what}: the training text is empty")
    writer = io.BytesIO()  # nothing is written to the working directory
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_drain(sample), model_writer=writer, **trainer_arguments(model_type, options)
        )
    except RuntimeError as exc:
        if "Unable to cast" in str(exc):  # pybind11 refusing a str that has no UTF-8 form
            raise invalid from None
        raise _config_error(str(exc), options, what) from None
    return writer.getvalue()


def _drain(sample: list[str]) -> Iterator[str]:
    # Hand sentences over one by one, dropping our copy as the trainer takes its own.
    sample.reverse()
    while sample:
        yield sample.pop()


_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_LOW = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


def _config_error(message: str, options: SubwordOptions, what: str) -> ConfigError:
    """One clear line for the ways sentencepiece refuses a vocabulary size."""
    if match := _TOO_HIGH.search(message):
        return ConfigError(
            f"vocab_size {options.vocab_size} is too large for the {what}: sentencepiece can build at most "
            f"{match.group(2)} pieces from this training text; set vocab_size to {match.group(2)} or less"
        )
    if match := _TOO_LOW.search(message):
        return ConfigError(
            f"vocab_size {options.vocab_size} is too small for the {what}: this training text needs at least "
            f"{match.group(2)} pieces (256 byte pieces, one per distinct character, special pieces); "
            f"raise vocab_size or lower character_coverage"
        )
    # Other failures: keep sentencepiece's own words, minus its "INTERNAL: file.cc(123) [check]" prefix.
    detail = message.rsplit("] ", 1)[-1].strip() or message.strip()
    return ConfigError(f"sentencepiece could not train the {what}: {detail}")

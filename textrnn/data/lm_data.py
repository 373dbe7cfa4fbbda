"""Language-model data: corpus -> tokenizer -> token ids on disk, through the token cache.

:func:`prepare_lm_data` is what the trainer calls. On a first run it

1. fingerprints the corpus (:mod:`textrnn.data.sources`, :mod:`textrnn.data.token_cache`);
2. trains the tokenizer on a stream of the training part (the tokenizer plugins keep
   memory bounded: char and word count with a Counter, bpe and unigram sample at most
   ``input_sentence_size`` lines) and stores it in the cache;
3. streams the corpus chunk by chunk through the tokenizer, on several processes when
   the corpus is large and the machine has the cores, and appends the ids to flat
   files in the cache;

and returns the ids as read-only memory maps. A second run with the same corpus, split
and tokenizer options finds both the tokenizer and the ids in the cache and does no
training and no tokenization.

The validation split, when there is no ``--valid`` file, is the last ``valid_fraction``
of the corpus's UTF-8 bytes, cut at the last character boundary at or before that
byte offset (for ASCII text, such as tiny shakespeare, this is exactly the
character split ``text[int(len(text) * (1 - valid_fraction)):]``). The characters on
each side are counted as they stream past, so bits per character divide by the exact
character count of the validation text.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .. import __version__
from ..contracts import ThreadedEncoding, supports
from ..errors import CorpusError, RunError
from .sources import CorpusSource, open_source
from .token_cache import TRAIN_FILE, VALID_FILE, FileHashes, TokenCache, cache_key, token_dtype, write_meta

POOL_MIN_BYTES = 32 << 20  # below this, starting worker processes costs more than it saves
MAX_WORKERS = 8
PROGRESS_MIN_BYTES = 64 << 20  # corpora at least this big report tokenization progress

Message = Callable[[str], None]


@dataclass
class LMData:
    """What a language-model run trains and validates on.

    :param train: training ids (a read-only ``np.memmap`` of uint16 or uint32).
    :param valid: validation ids, likewise.
    :param valid_chars: characters of the validation text, for bits per character.
    :param tokenizer: the trained (or cached, or given) tokenizer.
    :param corpus: provenance recorded in ``run.json``: format, files, fingerprint, sizes.
    :param cached: the ids came from the token cache; nothing was tokenized this time.
    :param tokenizer_cached: the tokenizer came from the cache; it was not trained this time.
    """

    train: np.ndarray
    valid: np.ndarray
    valid_chars: int
    tokenizer: Any
    corpus: dict
    cached: bool
    tokenizer_cached: bool


@dataclass
class CorpusSplit:
    """The training source, and either a validation source or the fraction cut from its end."""

    train: CorpusSource
    valid: CorpusSource | None
    valid_fraction: float
    encoding_errors: str

    def fingerprint(self, hasher: FileHashes) -> str:
        """Content of the sources plus how they are split and decoded: the cache's data key."""
        return cache_key(train=self.train.fingerprint(hasher),
                         valid=self.valid.fingerprint(hasher) if self.valid else None,
                         valid_fraction=None if self.valid else self.valid_fraction,
                         encoding_errors=self.encoding_errors)

    def cut(self) -> int | None:
        """Byte offset where validation starts in the training source (None with a valid source)."""
        if self.valid is not None:
            return None
        return int(self.train.total_bytes() * (1.0 - self.valid_fraction))

    def check(self) -> None:
        self.train.check_not_empty()
        if self.valid is not None:
            self.valid.check_not_empty()
        elif self.cut() >= self.train.total_bytes():
            raise CorpusError("validation text is empty; raise --valid-fraction or pass --valid FILE")

    def tagged_chunks(self) -> Iterator[tuple[int, str]]:
        """``(0, chunk)`` for training text, then ``(1, chunk)`` for validation text."""
        from .sources import split_at_byte

        yield from split_at_byte(self.train.chunks(), self.cut())
        if self.valid is not None:
            for chunk in self.valid.chunks():
                yield 1, chunk

    def train_chunks(self) -> Iterator[str]:
        for part, chunk in self.tagged_chunks():
            if part:
                return
            yield chunk

    def describe(self) -> dict:
        info = self.train.describe()
        if self.valid is not None:
            info["valid"] = self.valid.describe()
        else:
            info["valid_fraction"] = self.valid_fraction
        return info


def open_corpus(config) -> CorpusSplit:
    """The sources a :class:`~textrnn.training.config.TrainConfig` names."""
    options = dict(text_field=getattr(config, "text_field", None), encoding_errors=config.encoding_errors)
    train = open_source(config.corpus, dataset=getattr(config, "dataset", None), split=getattr(config, "split", None),
                        **options)
    valid = open_source([config.valid], lenient=True, **options) if config.valid else None
    return CorpusSplit(train, valid, config.valid_fraction, config.encoding_errors)


def prepare_lm_data(config, tokenizer=None, *, on_message: Message | None = None,
                    workers: int | None = None) -> LMData:
    """Tokenizer and memory-mapped ids for ``config`` (a TrainConfig), via the token cache.

    :param tokenizer: use this tokenizer (a resumed run's) instead of training one.
    :param on_message: called with one line of text for each thing worth reporting.
    :param workers: tokenizer processes; None picks by corpus size and available cores.
    """
    if getattr(config, "tokenizer", "") is None:  # unset: the tokenizer a plugin registers as default
        config = config.with_plugin_defaults()
    say = on_message or (lambda text: None)
    cache = TokenCache(getattr(config, "cache_dir", None))
    cache.ensure()
    split = open_corpus(config)
    split.check()
    data_key = split.fingerprint(cache.file_hashes())

    tokenizer_cached = tokenizer is not None
    tokenizer_key = None
    if tokenizer is None:
        tokenizer_key = _tokenizer_key(data_key, config.tokenizer, config.tokenizer_options)
        tokenizer = cache.load_tokenizer(tokenizer_key)
        tokenizer_cached = tokenizer is not None
        if tokenizer is None:
            tokenizer = _train_tokenizer(split, config.tokenizer, config.tokenizer_options, say)
            cache.store_tokenizer(tokenizer_key, tokenizer)

    fingerprint = tokenizer.fingerprint()
    tokens_key = cache_key(data=data_key, tokenizer=fingerprint)
    found = cache.load_tokens(tokens_key, fingerprint)
    cached = found is not None
    if found is None:
        tokenizer_dir = cache.tokenizer_dir(tokenizer_key) if tokenizer_key else None
        _tokenize_into_cache(split, tokenizer, cache, tokens_key, workers, say, tokenizer_dir)
        found = cache.load_tokens(tokens_key, fingerprint)
        if found is None:
            raise CorpusError(f"the token cache entry {cache.tokens_dir(tokens_key)} could not be read back")
    meta = found.meta
    if not meta["train_has_text"]:
        raise CorpusError(f"{split.train.name}: corpus is empty (only whitespace)")
    if not meta["valid_has_text"]:
        raise CorpusError("validation text is empty; raise --valid-fraction or pass --valid FILE")
    if cached:
        what = "the tokenizer and " if tokenizer_key and tokenizer_cached else ""
        say(f"token cache: reusing {what}{meta['train_tokens']:,} training + {meta['valid_tokens']:,} validation "
            f"tokens from {found.path} (tokenization skipped)")
    corpus = {**split.describe(), "fingerprint": data_key, "train_chars": meta["train_chars"],
              "valid_chars": meta["valid_chars"], "train_tokens": meta["train_tokens"],
              "valid_tokens": meta["valid_tokens"]}
    return LMData(found.train, found.valid, meta["valid_chars"], tokenizer, corpus, cached, tokenizer_cached)


def train_tokenizer_on(paths: list[str], name: str, options: dict, *, text_field: str | None = None,
                       dataset: str | None = None, split: str | None = None, encoding_errors: str = "strict"):
    """Train tokenizer ``name`` on a whole corpus (any source format), streaming; returns (tokenizer, provenance)."""
    source = open_source(paths, text_field=text_field, dataset=dataset, split=split, encoding_errors=encoding_errors)
    source.check_not_empty()
    whole = CorpusSplit(source, None, 0.0, encoding_errors)
    tokenizer = _train_tokenizer(whole, name, options, lambda text: None)
    return tokenizer, source.describe()


def validation_tokens(config, tokenizer, expected_fingerprint: str | None = None,
                      what: str = "the run") -> tuple[np.ndarray, int]:
    """Ids and character count of the validation text of ``config``, for ``textrnn evaluate``.

    Read from the token cache when the entry is there; otherwise only the validation
    text is encoded (in memory: evaluation holds the ids in memory anyway).
    """
    cache = TokenCache(getattr(config, "cache_dir", None))
    hasher = cache.file_hashes() if cache.root.is_dir() and os.access(cache.root, os.W_OK) else FileHashes(None)
    split = open_corpus(config)
    split.check()
    data_key = split.fingerprint(hasher)
    if expected_fingerprint and expected_fingerprint != data_key and expected_fingerprint != _text_sha256(split.train):
        raise RunError(f"the training corpus of {what} has changed since training; pass FILE explicitly")
    fingerprint = tokenizer.fingerprint()
    found = cache.load_tokens(cache_key(data=data_key, tokenizer=fingerprint), fingerprint)
    if found is not None:
        return found.valid, found.meta["valid_chars"]
    dtype = token_dtype(tokenizer.vocab_size)
    parts, chars = [], 0
    for part, chunk in split.tagged_chunks():
        if part:
            parts.append(np.asarray(tokenizer.encode(chunk), dtype=dtype))
            chars += len(chunk)
    return (np.concatenate(parts) if parts else np.zeros(0, dtype)), chars


def _text_sha256(source: CorpusSource) -> str | None:
    """sha256 of the decoded corpus text: the fingerprint runs recorded before the token cache."""
    import hashlib

    if source.format != "text":
        return None
    h = hashlib.sha256()
    for chunk in source.chunks():
        h.update(chunk.encode("utf-8"))
    return h.hexdigest()


# -- tokenizer training ------------------------------------------------------------------

def _tokenizer_key(data_key: str, name: str, options: dict) -> str:
    from ..registry import get_tokenizer

    info = get_tokenizer(name)
    return cache_key(data=data_key, tokenizer=name, options=options, plugin=info.plugin,
                     cls=f"{info.cls.__module__}.{info.cls.__qualname__}", textrnn=__version__)


def _train_tokenizer(split: CorpusSplit, name: str, options: dict, say: Message):
    from ..tokenizers import train_tokenizer

    seen = {"text": False, "bytes": 0}

    def stream():
        for chunk in split.train_chunks():
            seen["text"] = seen["text"] or not chunk.isspace()
            yield chunk

    started = time.perf_counter()
    tokenizer = train_tokenizer(name, stream(), **options)
    if not seen["text"]:
        raise CorpusError(f"{split.train.name}: corpus is empty (only whitespace)")
    if split.train.total_bytes() >= PROGRESS_MIN_BYTES:
        say(f"trained the {name} tokenizer ({tokenizer.vocab_size:,} tokens) in {time.perf_counter() - started:.1f} s")
    return tokenizer


# -- tokenization ------------------------------------------------------------------------

def default_workers(tokenizer, total_bytes: int) -> int:
    """Processes to tokenize ``total_bytes`` with: 1 for small corpora and self-threading tokenizers."""
    # a tokenizer whose encode already spreads over the cores (sentencepiece's threads) stays in-process
    if supports(tokenizer, ThreadedEncoding) or total_bytes < POOL_MIN_BYTES:
        return 1
    return min(available_cores(), MAX_WORKERS)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _tokenize_into_cache(split: CorpusSplit, tokenizer, cache: TokenCache, key: str, workers: int | None,
                         say: Message, tokenizer_dir: Path | None) -> None:
    total = split.train.total_bytes() + (split.valid.total_bytes() if split.valid else 0)
    if workers is None:
        workers = default_workers(tokenizer, total)
    dtype = token_dtype(tokenizer.vocab_size)
    started = time.perf_counter()
    with cache.new_entry(cache.tokens_dir(key)) as tmp:
        if workers > 1 and tokenizer_dir is None and _start_method() != "fork":  # workers load it from here
            from ..tokenizers import save_tokenizer

            tokenizer_dir = tmp / ".tokenizer"
            save_tokenizer(tokenizer, tokenizer_dir)
        report = _progress(total, say) if total >= PROGRESS_MIN_BYTES else None
        stats = encode_stream(split.tagged_chunks(), tokenizer, dtype, [tmp / TRAIN_FILE, tmp / VALID_FILE],
                              workers=workers, tokenizer_dir=tokenizer_dir, on_chunk=report)
        shutil.rmtree(tmp / ".tokenizer", ignore_errors=True)
        write_meta(tmp, {
            "dtype": dtype.str, "tokenizer_fingerprint": tokenizer.fingerprint(), "tokenizer_type": tokenizer.type_name,
            "vocab_size": tokenizer.vocab_size, "corpus": split.describe(),
            "train_tokens": stats[0]["tokens"], "valid_tokens": stats[1]["tokens"],
            "train_chars": stats[0]["chars"], "valid_chars": stats[1]["chars"],
            "train_has_text": stats[0]["has_text"], "valid_has_text": stats[1]["has_text"],
        })
    seconds = time.perf_counter() - started
    tokens = stats[0]["tokens"] + stats[1]["tokens"]
    processes = f"{workers} processes" if workers > 1 else "1 process"
    say(f"tokenized {total / 1e6:,.1f} MB into {tokens:,} tokens in {seconds:.1f} s ({processes}); "
        f"cached in {cache.tokens_dir(key)}")


def _progress(total: int, say: Message) -> Callable[[int], None]:
    state = {"done": 0, "next": 0.1, "t0": time.perf_counter()}

    def report(nbytes: int) -> None:
        state["done"] += nbytes
        fraction = state["done"] / max(1, total)
        if fraction >= state["next"] and fraction < 1.0:
            rate = state["done"] / max(1e-9, time.perf_counter() - state["t0"]) / 1e6
            say(f"tokenizing: {fraction:.0%} of {total / 1e6:,.0f} MB ({rate:.1f} MB/s)")
            state["next"] = int(fraction * 10 + 1) / 10

    return report


def encode_stream(tagged: Iterator[tuple[int, str]], tokenizer, dtype: np.dtype, paths: list[Path], *,
                  workers: int = 1, tokenizer_dir: Path | None = None,
                  on_chunk: Callable[[int], None] | None = None) -> list[dict]:
    """Encode tagged chunks in order, appending part ``k``'s ids to ``paths[k]``.

    With ``workers > 1``, chunks are encoded by a pool of processes, in order, with at
    most ``2 * workers`` chunks in flight, so memory stays bounded whatever the corpus
    size. The workers start from a fork server (spawned on Windows) and load the
    tokenizer from ``tokenizer_dir``; a worker that dies or fails raises
    :class:`~textrnn.errors.WorkerError`. Returns per part: tokens, chars and whether
    any non-whitespace text was seen.
    """
    stats = [{"tokens": 0, "chars": 0, "has_text": False} for _ in paths]
    files = [open(p, "wb") for p in paths]
    try:
        def write(part: int, ids: np.ndarray) -> None:
            files[part].write(ids.tobytes())
            stats[part]["tokens"] += len(ids)

        def note(part: int, chunk: str) -> None:
            stats[part]["chars"] += len(chunk)
            stats[part]["has_text"] = stats[part]["has_text"] or not chunk.isspace()
            if on_chunk is not None:
                on_chunk(len(chunk))

        if workers <= 1:
            for part, chunk in tagged:
                note(part, chunk)
                write(part, np.asarray(tokenizer.encode(chunk), dtype=dtype))
        else:
            for part, ids in _encode_in_pool(tagged, tokenizer, dtype, workers, tokenizer_dir, note):
                write(part, ids)
    finally:
        for f in files:
            f.close()
    return stats


def _encode_in_pool(tagged: Iterator[tuple[int, str]], tokenizer, dtype: np.dtype, workers: int,
                    tokenizer_dir: Path | None, note: Callable[[int, str], None]) -> Iterator[tuple[int, np.ndarray]]:
    """``(part, ids)`` per chunk, in order, encoded by ``workers`` processes (see worker_pool)."""
    from .worker_pool import ordered_map

    method = _start_method()
    if method != "fork" and tokenizer_dir is None:
        raise ValueError("encode_stream needs tokenizer_dir to start worker processes")
    source = _inherit(tokenizer) if method == "fork" else str(tokenizer_dir)

    def noted() -> Iterator[tuple[int, str]]:
        for part, chunk in tagged:
            note(part, chunk)
            yield part, chunk

    try:
        yield from ordered_map(functools.partial(_encode_in_worker, source, dtype=dtype.str), noted(), workers,
                               method=method, what="a tokenizer worker")
    finally:
        _worker_tokenizers.pop(source, None)


_worker_tokenizers: dict[str, Any] = {}


def _start_method() -> str:
    # Workers start from a clean process (forkserver, or spawn on Windows), never forked
    # from this one: a fork copies locks other threads hold, and tokenizing then hung.
    # Like spawn, this needs an ``if __name__ == "__main__"`` guard in a script that
    # tokenizes with workers > 1 (the textrnn command has one).
    from .worker_pool import start_method

    return start_method()


def _inherit(tokenizer) -> str:
    key = f"inherited:{id(tokenizer)}"
    _worker_tokenizers[key] = tokenizer  # forked workers find it here
    return key


def _encode_in_worker(source: str, chunk: str, dtype: str) -> np.ndarray:
    # A worker loads the tokenizer on first use rather than in a pool initializer, so an
    # error loading it reaches the parent as this chunk's result.
    tokenizer = _worker_tokenizers.get(source)
    if tokenizer is None:
        from ..tokenizers import load_tokenizer

        tokenizer = _worker_tokenizers[source] = load_tokenizer(Path(source))
    return np.asarray(tokenizer.encode(chunk), dtype=dtype)


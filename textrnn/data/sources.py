"""Where language-model text comes from, read as a stream of text chunks in bounded memory.

A *source* yields the corpus as ``str`` chunks of about :data:`CHUNK_CHARS` characters,
each ending just after a newline whenever the text has one within reach, so that
tokenizers that treat lines independently (char, word, bpe, unigram) give the same ids
for the chunks as for the whole text. Nothing holds the whole corpus in memory.

Formats, chosen from the paths given:

* **Plain text**: files, directories (text files found recursively: ``.txt``, ``.text``,
  ``.md``, ``.rst`` and no suffix, hidden paths skipped) and globs (``data/*.txt``,
  ``data/**/*.txt``). Files are concatenated in order, as they are. They are read with a
  streaming UTF-8 reader, not with ``datasets``: on 100 MB that reader takes 0.16 s
  where ``datasets``' ``text`` builder takes 1.6 s (plus 1.2 s to import ``datasets``).
* **CSV** (``.csv``), **TSV** (``.tsv``, ``.tab``: no quoting), **JSON lines**
  (``.jsonl``, ``.json``, ``.ndjson``) and **Parquet** (``.parquet``): the column named
  by ``text_field`` (default ``text``), read with the packaged builders of Hugging Face
  ``datasets`` in streaming mode (nothing is converted or copied to disk).
* A folder written by ``datasets``' ``save_to_disk`` (a Dataset, or a DatasetDict of
  which ``split`` is read).
* A Hugging Face Hub dataset (``--dataset NAME --split SPLIT``), loaded by
  ``load_dataset`` (never with remote code).

Rows become text by writing each row's text followed by ``"\\n"`` (unless it already
ends with one); empty and missing values are skipped (CSV cannot tell them apart).

A source's :meth:`~CorpusSource.fingerprint` identifies its content: the sha256 of
every file's bytes (see :class:`~textrnn.data.token_cache.FileHashes`), or for a Hub
dataset the fingerprint ``datasets`` gives the loaded split.
"""

from __future__ import annotations

import codecs
import contextlib
import glob
import hashlib
import json
import os
import stat
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import ConfigError, CorpusError
from .text import BINARY_SNIFF_BYTES, TEXT_SUFFIXES, check_json_file, default_corpus

CHUNK_CHARS = 1 << 20  # characters per chunk handed to the tokenizer (about 1 MB of text)
READ_BYTES = 1 << 20  # bytes per read from a text file
LONG_LINE_FACTOR = 4  # a chunk with no newline is cut (at a space) once it is this many chunks long
ROWS_PER_BATCH = 4096

# Suffix -> (datasets builder, label for messages)
DATA_SUFFIXES = {
    ".csv": ("csv", "CSV"), ".tsv": ("csv", "TSV"), ".tab": ("csv", "TSV"),
    ".jsonl": ("json", "JSON lines"), ".json": ("json", "JSON lines"), ".ndjson": ("json", "JSON lines"),
    ".parquet": ("parquet", "Parquet"),
}
SAVED_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
DEFAULT_TEXT_FIELD = "text"
SOURCE_FORMAT = 1  # bump when the way a source becomes text changes (invalidates caches)

Hasher = Callable[[Path], str]


def _sha256_file(path: Path) -> str:
    from .token_cache import FileHashes

    return FileHashes(None)(path)


# -- text chunks ------------------------------------------------------------------------

def rechunk(pieces: Iterable[str], size: int | None = None) -> Iterator[str]:
    """Regroup ``pieces`` into chunks that end just after a newline.

    A chunk ends at the last newline within ``size`` characters, else at the first one
    after. A line longer than ``LONG_LINE_FACTOR * size`` is cut before a space (a
    subword tokenizer starts pieces at spaces) or, if it has none, anywhere.
    """
    size = size or CHUNK_CHARS
    limit = LONG_LINE_FACTOR * size
    buffer: list[str] = []
    held = 0
    for piece in pieces:
        if not piece:
            continue
        buffer.append(piece)
        held += len(piece)
        if held < size:
            continue
        text, start = "".join(buffer), 0
        while len(text) - start >= size:
            cut = text.rfind("\n", start, start + size) + 1 or text.find("\n", start + size, start + limit) + 1
            if not cut:
                if len(text) - start < limit:
                    break  # wait for the rest of the line
                space = text.rfind(" ", start + size, start + limit)
                cut = space if space > 0 else start + limit
            yield text[start:cut]
            start = cut
        rest = text[start:]
        buffer, held = ([rest], len(rest)) if rest else ([], 0)
    if held:
        yield "".join(buffer)


def utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def split_at_byte(chunks: Iterable[str], cut: int | None) -> Iterator[tuple[int, str]]:
    """Tag chunks 0 (before byte ``cut`` of the UTF-8 text) or 1 (from it on).

    The chunk that straddles the cut is split at the last character boundary at or
    before it. ``cut=None`` tags everything 0.
    """
    position = 0
    for chunk in chunks:
        if cut is None or position >= cut:
            yield 0 if cut is None else 1, chunk
            continue
        size = utf8_length(chunk)
        if position + size <= cut:
            yield 0, chunk
        else:
            keep = cut - position
            head = chunk[:keep] if chunk.isascii() else chunk.encode("utf-8")[:keep].decode("utf-8", "ignore")
            if head:
                yield 0, head
            if len(head) < len(chunk):
                yield 1, chunk[len(head):]
        position += size


# -- sources ----------------------------------------------------------------------------

class CorpusSource(ABC):
    """One corpus: its text as chunks, its size, and a fingerprint of its content."""

    format: str = ""

    @property
    @abstractmethod
    def name(self) -> str:
        """Short description for messages (file names, dataset name)."""

    @abstractmethod
    def describe(self) -> dict:
        """JSON-able provenance recorded in the run."""

    @abstractmethod
    def fingerprint(self, hasher: Hasher = _sha256_file) -> str:
        """sha256 identifying the content (and how it is read)."""

    @abstractmethod
    def total_bytes(self) -> int:
        """UTF-8 bytes of the text stream (for text files: from file sizes, no reading)."""

    @abstractmethod
    def chunks(self, size: int | None = None) -> Iterator[str]:
        """The text, in order, as chunks (see :func:`rechunk`)."""

    def check_not_empty(self) -> None:
        if self.total_bytes() == 0:
            raise CorpusError(f"{self.name}: corpus is empty")


class TextFiles(CorpusSource):
    """Plain UTF-8 text files, concatenated, read in blocks (never whole)."""

    format = "text"

    def __init__(self, files: list[Path], encoding_errors: str = "strict"):
        self.files = files
        self.encoding_errors = encoding_errors
        self._sizes = []
        for path in files:  # refuse binary files before any work is done
            try:
                with open(path, "rb") as f:
                    head = f.read(BINARY_SNIFF_BYTES)
                size = path.stat().st_size
            except OSError as exc:
                raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
            if b"\x00" in head:
                raise CorpusError(f"{path}: looks like a binary file (NUL bytes), not UTF-8 text")
            self._sizes.append(size - (3 if head.startswith(codecs.BOM_UTF8) else 0))

    @property
    def name(self) -> str:
        return _names(self.files)

    def describe(self) -> dict:
        return {"format": self.format, "files": [str(p) for p in self.files]}

    def fingerprint(self, hasher: Hasher = _sha256_file) -> str:
        return _digest({"format": self.format, "version": SOURCE_FORMAT,
                        "files": [hasher(p) for p in self.files]})

    def total_bytes(self) -> int:
        return sum(self._sizes)

    def chunks(self, size: int | None = None) -> Iterator[str]:
        return rechunk((text for path in self.files for text in self._read(path)), size)

    def _read(self, path: Path) -> Iterator[str]:
        """Decoded text of one file, block by block; invalid UTF-8 names its byte offset."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors=self.encoding_errors)
        position, at_start = 0, True
        try:
            f = open(path, "rb")
        except OSError as exc:
            raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
        with f:
            while True:
                block = f.read(READ_BYTES)
                held = len(decoder.getstate()[0])  # bytes of a character split across reads
                try:
                    text = decoder.decode(block, final=not block)
                except UnicodeDecodeError as exc:
                    raise CorpusError(
                        f"{path}: invalid UTF-8 at byte {position - held + exc.start}; "
                        f"pass --encoding-errors replace to substitute U+FFFD"
                    ) from None
                if at_start and text:
                    text = text.removeprefix("\ufeff")  # a BOM is not text
                    at_start = False
                if text:
                    yield text
                if not block:
                    return
                position += len(block)


class _RowSource(CorpusSource):
    """A ``datasets`` table whose text column becomes the text, one row per line."""

    label = "a dataset"

    def __init__(self, text_field: str | None):
        self.text_field = text_field
        self._total: int | None = None
        self._checked = False

    @property
    def field(self) -> str:
        return self.text_field or DEFAULT_TEXT_FIELD

    @abstractmethod
    def _dataset(self):
        """The ``datasets`` Dataset or IterableDataset to read."""

    def _tables(self):
        """The rows as pyarrow tables of up to ROWS_PER_BATCH rows."""
        import pyarrow as pa

        ds = self._dataset()
        try:
            batches = iter(ds.with_format("arrow").iter(batch_size=ROWS_PER_BATCH))
            while True:
                with quiet_datasets():  # reading is where datasets logs a parse error before raising it
                    table = next(batches, None)
                if table is None:
                    break
                if not self._checked:
                    self._check_column(table.schema, pa)
                yield table
        except CorpusError:
            raise
        except Exception as exc:  # parse errors from pandas / pyarrow
            raise CorpusError(f"{self.name}: cannot read as {self.label}: {_first_line(exc)}") from None

    def _check_column(self, schema, pa) -> None:
        names = list(schema.names)
        if self.field not in names:
            hint = "" if self.text_field else "; pass --text-field to name the text column"
            raise CorpusError(f"{self.name}: no column {self.field!r}{hint} (columns: {', '.join(names)})")
        kind = schema.field(self.field).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                or getattr(pa.types, "is_string_view", lambda _: False)(kind)):
            raise CorpusError(f"{self.name}: column {self.field!r} holds {kind} values, not text "
                              f"(columns: {', '.join(names)})")
        self._checked = True

    def total_bytes(self) -> int:
        """One pass over the column, counted by pyarrow (rows are not turned into str)."""
        if self._total is None:
            import pyarrow.compute as pc

            total = 0
            for table in self._tables():
                column = table.column(self.field)
                lengths = pc.binary_length(column)
                rows = pc.sum(pc.greater(lengths, 0)).as_py() or 0  # empty and missing rows are skipped
                if rows:
                    ends = pc.sum(pc.ends_with(column, pattern="\n")).as_py() or 0
                    total += (pc.sum(lengths).as_py() or 0) + rows - ends
            self._total = total
        return self._total

    def chunks(self, size: int | None = None) -> Iterator[str]:
        def rows():
            for table in self._tables():
                for text in table.column(self.field).to_pylist():
                    if text:
                        yield text if text.endswith("\n") else text + "\n"

        return rechunk(rows(), size)


class DataFiles(_RowSource):
    """CSV, TSV, JSON lines or Parquet files, read by ``datasets`` in streaming mode."""

    def __init__(self, files: list[Path], suffix: str, text_field: str | None):
        super().__init__(text_field)
        self.files = files
        self.builder, self.label = DATA_SUFFIXES[suffix]
        self.format = {"CSV": "csv", "TSV": "tsv", "JSON lines": "jsonl", "Parquet": "parquet"}[self.label]
        self._ds = None

    @property
    def name(self) -> str:
        return _names(self.files)

    def describe(self) -> dict:
        return {"format": self.format, "files": [str(p) for p in self.files], "text_field": self.field}

    def fingerprint(self, hasher: Hasher = _sha256_file) -> str:
        return _digest({"format": self.format, "version": SOURCE_FORMAT, "text_field": self.field,
                        "files": [hasher(p) for p in self.files]})

    def _dataset(self):
        if self._ds is None:
            import datasets

            options = {"delimiter": "\t", "quoting": 3} if self.format == "tsv" else {}  # 3: csv.QUOTE_NONE
            if self.format == "jsonl":
                for path in self.files:
                    check_json_file(path)
            with quiet_datasets():
                try:
                    self._ds = datasets.load_dataset(self.builder, data_files=[str(p) for p in self.files],
                                                     split="train", streaming=True, **options)
                except Exception as exc:
                    raise CorpusError(f"{self.name}: cannot read as {self.label}: {_first_line(exc)}") from None
        return self._ds


class SavedDataset(_RowSource):
    """A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""

    format = "saved"
    label = "a saved dataset"

    def __init__(self, path: Path, split: str | None, text_field: str | None):
        super().__init__(text_field)
        self.path = path
        self.split = split
        self._ds = None

    @property
    def name(self) -> str:
        return str(self.path) + (f" (split {self.split})" if self.split and self._is_dict() else "")

    def _is_dict(self) -> bool:
        return (self.path / "dataset_dict.json").is_file()

    def describe(self) -> dict:
        return {"format": self.format, "files": [str(self.path)], "text_field": self.field,
                "split": self.split if self._is_dict() else None}

    def fingerprint(self, hasher: Hasher = _sha256_file) -> str:
        files = sorted(p for p in self.path.rglob("*") if p.is_file() and not p.name.startswith("."))
        return _digest({"format": self.format, "version": SOURCE_FORMAT, "text_field": self.field,
                        "split": self.split if self._is_dict() else None,
                        "files": [[p.relative_to(self.path).as_posix(), hasher(p)] for p in files]})

    def _dataset(self):
        if self._ds is None:
            import datasets

            with quiet_datasets():
                try:
                    loaded = datasets.load_from_disk(str(self.path))
                except Exception as exc:
                    raise CorpusError(f"{self.path}: cannot load the saved dataset: {_first_line(exc)}") from None
            if isinstance(loaded, datasets.DatasetDict):
                split = self.split or "train"
                if split not in loaded:
                    raise CorpusError(f"{self.path}: no split {split!r}; splits: {', '.join(loaded)} (pass --split)")
                loaded = loaded[split]
            self._ds = loaded
        return self._ds


class HubDataset(_RowSource):
    """A dataset on the Hugging Face Hub (or in the local ``datasets`` cache when offline)."""

    format = "hub"
    label = "a Hub dataset"

    def __init__(self, dataset: str, split: str, text_field: str | None):
        super().__init__(text_field)
        self.dataset = dataset
        self.split = split
        self._ds = None

    @property
    def name(self) -> str:
        return f"dataset {self.dataset!r} (split {self.split})"

    def describe(self) -> dict:
        return {"format": self.format, "dataset": self.dataset, "split": self.split, "text_field": self.field,
                "files": []}

    def fingerprint(self, hasher: Hasher = _sha256_file) -> str:
        # datasets fingerprints a loaded split from its builder config and data files.
        return _digest({"format": self.format, "version": SOURCE_FORMAT, "dataset": self.dataset,
                        "split": self.split, "text_field": self.field, "datasets": self._dataset()._fingerprint})

    def _dataset(self):
        if self._ds is None:
            self._ds = load_hub_dataset(self.dataset, self.split)
        return self._ds


def load_hub_dataset(name: str, split: str):
    """``load_dataset(name, split=split)`` with failures turned into one CorpusError line."""
    import datasets

    with quiet_datasets():
        try:
            return datasets.load_dataset(name, split=split)  # never trust_remote_code
        except ConnectionError as exc:  # datasets raises this when offline or the Hub is unreachable
            offline = "offline mode is on" if datasets.config.HF_HUB_OFFLINE else "no network"
            raise CorpusError(
                f"could not reach the Hugging Face Hub to load dataset {name!r} ({offline}) and it is not in the "
                f"local datasets cache; connect once to download it, or pass local files as CORPUS"
            ) from None
        except Exception as exc:
            raise CorpusError(f"cannot load dataset {name!r} split {split!r}: {_first_line(exc)}") from None


@contextlib.contextmanager
def quiet_datasets():
    """No progress bars or retry warnings from datasets / huggingface_hub: the library never prints."""
    import logging

    import datasets

    bars = datasets.is_progress_bar_enabled()
    loggers = [logging.getLogger(n) for n in ("datasets", "huggingface_hub", "fsspec")]
    levels = [lg.level for lg in loggers]
    datasets.disable_progress_bars()
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)  # datasets logs unreadable files as errors; we raise CorpusError instead
    try:
        yield
    finally:
        if bars:
            datasets.enable_progress_bars()
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# -- choosing a source from the command line ---------------------------------------------

def open_source(paths: list[str | Path], *, text_field: str | None = None, dataset: str | None = None,
                split: str | None = None, encoding_errors: str = "strict", lenient: bool = False) -> CorpusSource:
    """The source named by CORPUS paths, or by ``dataset`` (a Hub name); see the module doc.

    :param lenient: ignore ``text_field`` for plain text instead of refusing it (for a
        ``--valid`` text file beside a CSV corpus, say).
    """
    if dataset:
        if paths:
            raise ConfigError("pass CORPUS files or --dataset, not both")
        return HubDataset(dataset, split or "train", text_field)
    paths = list(paths) or [default_corpus()]
    saved = [Path(p) for p in paths if _is_saved(Path(p))]
    if saved:
        if len(paths) > 1:
            raise ConfigError(f"{saved[0]} is a saved dataset; pass it alone")
        return SavedDataset(saved[0], split, text_field)
    files = expand(paths, data_ok=True)
    kinds = {p.suffix.lower() if p.suffix.lower() in DATA_SUFFIXES else "text" for p in files}
    if kinds == {"text"}:
        if text_field and not lenient:
            raise ConfigError(f"--text-field applies to CSV, TSV, JSON lines, Parquet and datasets, "
                              f"not to plain text ({_names(files)})")
        return TextFiles(files, encoding_errors)
    labels = {DATA_SUFFIXES[k][1] if k != "text" else "plain text" for k in kinds}
    if len(labels) > 1:
        raise CorpusError(f"{_names(files)}: mixes {' and '.join(sorted(labels))} files; pass one format")
    return DataFiles(files, kinds.pop(), text_field)


def expand(paths: list[str | Path], data_ok: bool = False) -> list[Path]:
    """Files named directly, found under directories, or matched by globs, in order."""
    suffixes = TEXT_SUFFIXES | (set(DATA_SUFFIXES) if data_ok else set())
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise CorpusError(f"{path}: directory has no text files ({', '.join(sorted(suffixes - {''}))})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif glob.has_magic(str(raw)):
            matched = sorted(Path(p) for p in glob.glob(str(raw), recursive=True) if Path(p).is_file())
            if not matched:
                raise CorpusError(f"{raw}: no files match")
            files.extend(matched)
        else:
            raise not_a_file(path)
    return files


def not_a_file(path: Path) -> CorpusError:
    """The error for a corpus path that is neither a regular file nor a directory.

    ``/dev/null`` and the like exist: calling them missing misleads. A character device
    that yields no bytes is reported as empty; one that does (``/dev/zero``), a pipe or a
    socket cannot be sized without reading it, so it is refused by name.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return CorpusError(f"{path}: no such file or directory")
    except OSError as exc:
        return CorpusError(f"{path}: cannot be read: {exc.strerror or exc}")
    if stat.S_ISCHR(mode):
        try:  # non-blocking: a terminal waiting for input must not hang us
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            try:
                if not os.read(fd, 1):
                    return CorpusError(f"{path}: the file is empty")
            finally:
                os.close(fd)
        except OSError:
            pass
    return CorpusError(f"{path}: not a regular file (a device, pipe or socket); give a text file or directory")


def _is_saved(path: Path) -> bool:
    return path.is_dir() and any((path / m).is_file() for m in SAVED_MARKERS)


def _names(files: list[Path]) -> str:
    names = ", ".join(str(p) for p in files[:3])
    return names + (f" and {len(files) - 3} more" if len(files) > 3 else "")


def _digest(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]

"""Reading labelled text (``label``, ``text``) for classification, with clear errors for bad input.

Formats, chosen by the path:

* ``*.tsv`` / ``*.tab``: a header line naming the columns (``label<TAB>text``), then one
  row per line. No quoting: a line is split at its first TABs (the last column takes
  the rest of the line). This is the SST-2 format; it is read with a plain fast reader.
* ``*.csv``, ``*.jsonl`` / ``*.json`` / ``*.ndjson``, ``*.parquet``: read with Hugging Face
  ``datasets``' packaged builders (local files only, no remote code).
* a directory written by ``datasets``' ``save_to_disk`` (one split, not a DatasetDict).

Labels may be any strings; integers become their decimal strings. Rows whose text is
empty are skipped and counted. The label map of a run is :func:`label_names` of its
training labels: sorted numerically when every label is an integer, else as strings.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CorpusError
from .text import check_json_file, decode_bytes

TSV_SUFFIXES = {".tsv", ".tab"}
DATASETS_SUFFIXES = {".csv": "csv", ".jsonl": "json", ".json": "json", ".ndjson": "json", ".parquet": "parquet"}
FORMATS = "TSV (.tsv), CSV (.csv), JSON lines (.jsonl), Parquet (.parquet) or a datasets save_to_disk folder"


@dataclass
class LabelledData:
    """Texts and their labels (strings), read from one source.

    :param labels: one string per text, or None when the source was read without labels.
    :param skipped_empty: rows dropped because their text was empty or only whitespace.
    :param fingerprint: sha256 over the rows kept, to notice a changed file.
    """

    texts: list[str]
    labels: list[str] | None
    source: str
    skipped_empty: int
    fingerprint: str

    def subset(self, indices) -> "LabelledData":
        texts = [self.texts[i] for i in indices]
        labels = [self.labels[i] for i in indices] if self.labels is not None else None
        return LabelledData(texts, labels, self.source, 0, _fingerprint(texts, labels))


def default_labelled() -> Path:
    """The embedded synthetic sentiment sample, ``corpora/sentiment.tsv``."""
    from .text import embedded

    path = embedded("sentiment.tsv")
    if not path.is_file():
        raise CorpusError(f"the embedded sentiment sample is missing ({path}); pass DATA "
                          "(or rebuild it with python corpora/make_sentiment.py)")
    return path


def read_labelled(path: str | Path, text_field: str = "text", label_field: str | None = "label",
                  encoding_errors: str = "strict") -> LabelledData:
    """Read ``path`` (see the module docstring for formats).

    :param label_field: the label column, or None to read texts only (for prediction).
    :raises CorpusError: a missing file or column, an empty or binary file, invalid
        UTF-8, a row without a label, or no rows with text.
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: no such file or directory")
    if path.is_dir():
        columns, rows = _read_datasets(path, "disk", text_field, label_field, encoding_errors)
    else:
        suffix = path.suffix.lower()
        if suffix in TSV_SUFFIXES:
            columns, rows = _read_tsv(path, text_field, label_field, encoding_errors)
        elif suffix in DATASETS_SUFFIXES:
            columns, rows = _read_datasets(path, DATASETS_SUFFIXES[suffix], text_field, label_field, encoding_errors)
        else:
            raise CorpusError(f"{path}: unknown labelled-data format {suffix or '(no suffix)'!r}; use {FORMATS}")
    texts: list[str] = []
    labels: list[str] | None = [] if label_field is not None else None
    skipped = 0
    for where, text, label in rows:
        if text is None or not str(text).strip():
            skipped += 1
            continue
        texts.append(str(text))
        if labels is not None:
            labels.append(_label_string(label, path, where))
    if not texts:
        what = "rows" if skipped == 0 else f"rows with text ({skipped} rows have empty text)"
        raise CorpusError(f"{path}: has no {what}")
    return LabelledData(texts, labels, str(path), skipped, _fingerprint(texts, labels))


def read_texts(path: str | Path, text_field: str = "text", encoding_errors: str = "strict") -> list[str]:
    """Texts to classify: labelled-data formats give their ``text_field`` column (empty
    texts kept, so output lines match input rows); any other file is one text per line."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() in TSV_SUFFIXES or path.suffix.lower() in DATASETS_SUFFIXES:
        if not path.exists():
            raise CorpusError(f"{path}: no such file or directory")
        if path.is_dir():
            _, rows = _read_datasets(path, "disk", text_field, None, encoding_errors)
        elif path.suffix.lower() in TSV_SUFFIXES:
            _, rows = _read_tsv(path, text_field, None, encoding_errors)
        else:
            _, rows = _read_datasets(path, DATASETS_SUFFIXES[path.suffix.lower()], text_field, None, encoding_errors)
        return ["" if text is None else str(text) for _, text, _ in rows]
    from .text import read_text

    if not path.is_file():
        from .sources import not_a_file

        raise not_a_file(path)
    text = read_text(path, encoding_errors)
    if not text.strip():
        raise CorpusError(f"{path}: file is empty")
    return text.removesuffix("\n").split("\n")


# --------------------------------------------------------------------------- labels


def label_names(labels: list[str]) -> list[str]:
    """The sorted, stable label map: numeric order when every label is an integer."""
    distinct = set(labels)
    if all(_is_int(label) for label in distinct):
        return sorted(distinct, key=lambda label: (int(label), label))
    return sorted(distinct)


def check_classes(labels: list[str], source: str) -> None:
    """Training needs at least two classes."""
    distinct = set(labels)
    if len(distinct) < 2:
        only = f" (every row is {next(iter(distinct))!r})" if distinct else ""
        raise CorpusError(f"{source}: the training data has a single class{only}; a classifier needs at least two")


def encode_labels(labels: list[str], names: list[str], source: str) -> np.ndarray:
    """Label strings -> class indices; a label the run was not trained on is an error."""
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise CorpusError(f"{source}: unknown label {shown}; the run knows {', '.join(map(repr, names))}")
    return np.asarray([index[label] for label in labels], dtype=np.int64)


def stratified_split(labels: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded split keeping each class's share: about ``fraction`` of every class is validation.

    Each class with at least two rows gives at least one row to validation and keeps at
    least one for training. Returns sorted (train, valid) row indices.
    """
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    rng = np.random.default_rng(seed)
    train: list[int] = []
    valid: list[int] = []
    for label in sorted(by_class):
        rows = np.asarray(by_class[label])
        rows = rows[rng.permutation(len(rows))]
        take = int(round(fraction * len(rows)))
        if len(rows) >= 2:
            take = min(max(take, 1), len(rows) - 1)
        else:
            take = 0
        valid.extend(rows[:take].tolist())
        train.extend(rows[take:].tolist())
    return sorted(train), sorted(valid)


def class_weights(labels: np.ndarray, num_classes: int) -> list[float]:
    """Inverse-frequency weights ``N / (K * n_c)`` (1.0 for a balanced set)."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    counts = np.maximum(counts, 1.0)
    return (len(labels) / (num_classes * counts)).tolist()


# --------------------------------------------------------------------------- readers


def _read_tsv(path: Path, text_field: str, label_field: str | None, encoding_errors: str):
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
    text = decode_bytes(data, str(path), encoding_errors)
    if not text.strip():
        raise CorpusError(f"{path}: file is empty")
    lines = text.split("\n")
    header = [name.strip() for name in lines[0].removesuffix("\r").split("\t")]
    if len(header) < 2 and label_field is not None:
        raise CorpusError(f"{path}: the first line must be a header naming the columns, such as "
                          f"'label<TAB>text' (found {lines[0][:40]!r}, no TAB)")
    _require_column(header, text_field, path)
    text_col = header.index(text_field)
    label_col = None
    if label_field is not None:
        _require_column(header, label_field, path)
        label_col = header.index(label_field)
    width = len(header)
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        line = line.removesuffix("\r")
        if not line:
            continue  # a blank line (the file's last newline, say) is no row
        fields = line.split("\t", width - 1)  # no quoting: the last column keeps any further TABs
        if len(fields) < width:
            raise CorpusError(f"{path}: line {number} has {len(fields)} field(s) but the header names {width} "
                              f"({', '.join(header)})")
        rows.append((f"line {number}", fields[text_col], fields[label_col].strip() if label_col is not None else None))
    return header, rows


def _read_datasets(path: Path, builder: str, text_field: str, label_field: str | None, encoding_errors: str):
    if builder in ("csv", "json"):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
        decoded = decode_bytes(data, str(path), encoding_errors)
        if not decoded.strip():
            raise CorpusError(f"{path}: file is empty")
        if builder == "json":
            check_json_file(path)
    elif builder == "parquet" and path.stat().st_size == 0:
        raise CorpusError(f"{path}: file is empty")
    if builder == "disk" and not any((path / name).exists() for name in ("state.json", "dataset_dict.json")):
        raise CorpusError(f"{path}: directory is not a dataset written by datasets' save_to_disk "
                          f"(no state.json); use {FORMATS}")

    # Local files only: never look anything up on the Hub, never run a dataset's code.
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets

    with _quiet_datasets(datasets), tempfile.TemporaryDirectory(prefix="textrnn-datasets-") as cache:
        try:
            if builder == "disk":
                loaded = datasets.load_from_disk(str(path), keep_in_memory=True)
            elif builder in ("csv", "json") and encoding_errors != "strict":
                fixed = Path(cache) / f"input{path.suffix}"
                fixed.write_text(decoded, encoding="utf-8")
                loaded = _from_file(datasets, builder, fixed, cache)
            else:
                loaded = _from_file(datasets, builder, path, cache)
        except CorpusError:
            raise
        except Exception as exc:  # datasets/pyarrow raise many types for unreadable input
            while exc.__cause__ is not None:  # "An error occurred while generating the dataset" says nothing
                exc = exc.__cause__
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CorpusError(f"{path}: cannot read as {builder}: {message}") from None
        if isinstance(loaded, datasets.DatasetDict):
            splits = ", ".join(loaded)
            raise CorpusError(f"{path}: holds several splits ({splits}); point at one of them, "
                              f"e.g. {path / next(iter(loaded))}")
        columns = list(loaded.column_names)
        _require_column(columns, text_field, path)
        if label_field is not None:
            _require_column(columns, label_field, path)
        texts = loaded[text_field]
        labels = loaded[label_field] if label_field is not None else [None] * len(texts)
    # JSON lines are counted by line; CSV (quoted fields may span lines) and Parquet by data row.
    unit, first = ("line", 1) if builder == "json" else ("row", 1)
    return columns, [(f"{unit} {first + i}", t, y) for i, (t, y) in enumerate(zip(texts, labels))]


def _from_file(datasets, builder: str, path: Path, cache: str):
    reader = {"csv": datasets.Dataset.from_csv, "json": datasets.Dataset.from_json,
              "parquet": datasets.Dataset.from_parquet}[builder]
    return reader(str(path), keep_in_memory=True, cache_dir=cache)


@contextlib.contextmanager
def _quiet_datasets(datasets):
    """datasets draws progress bars on stderr; the library must not print."""
    was_disabled = datasets.utils.logging.is_progress_bar_enabled() is False
    verbosity = datasets.utils.logging.get_verbosity()
    datasets.utils.logging.disable_progress_bar()
    datasets.utils.logging.set_verbosity(datasets.utils.logging.CRITICAL)  # its logger.error lines too
    try:
        yield
    finally:
        datasets.utils.logging.set_verbosity(verbosity)
        if not was_disabled:
            datasets.utils.logging.enable_progress_bar()


def _require_column(columns: list[str], name: str, path: Path) -> None:
    if name not in columns:
        raise CorpusError(f"{path}: no column {name!r}; available columns: {', '.join(map(str, columns)) or 'none'}")


def _label_string(value, path: Path, where: str) -> str:
    if value is None:
        raise CorpusError(f"{path}: {where} has no label")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))  # a CSV column with a missing value turns ints into floats
    else:
        text = str(value).strip()
    if not text:
        raise CorpusError(f"{path}: {where} has an empty label")
    return text


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _fingerprint(texts: list[str], labels: list[str] | None) -> str:
    h = hashlib.sha256()
    for i, text in enumerate(texts):
        h.update((labels[i] if labels is not None else "").encode("utf-8"))
        h.update(b"\t")
        h.update(text.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def load_classifier_splits(data: str | None, valid: str | None, valid_fraction: float, seed: int,
                           text_field: str = "text", label_field: str = "label",
                           encoding_errors: str = "strict") -> tuple[LabelledData, LabelledData, list[str]]:
    """Training and validation data of a classifier run, plus notes for the user.

    ``data`` None reads the embedded sample. Without ``valid`` a stratified, seeded
    ``valid_fraction`` of ``data`` is held out (see :func:`stratified_split`).
    """
    train = read_labelled(data or default_labelled(), text_field, label_field, encoding_errors)
    notes = []
    if train.skipped_empty:
        notes.append(f"skipped {train.skipped_empty} row(s) with empty text in {train.source}")
    if valid:
        held_out = read_labelled(valid, text_field, label_field, encoding_errors)
        if held_out.skipped_empty:
            notes.append(f"skipped {held_out.skipped_empty} row(s) with empty text in {held_out.source}")
        return train, held_out, notes
    check_classes(train.labels, train.source)
    train_rows, valid_rows = stratified_split(train.labels, valid_fraction, seed)
    if not valid_rows:
        raise CorpusError(f"{train.source}: too few rows to hold out {valid_fraction:.0%} for validation; "
                          "pass validation data")
    return train.subset(train_rows), train.subset(valid_rows), notes

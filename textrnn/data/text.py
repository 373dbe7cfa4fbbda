"""Reading corpus text from files and directories, with clear errors for bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import CorpusError

# Files in a corpus directory that are read as text; anything else is skipped.
TEXT_SUFFIXES = {".txt", ".text", ".md", ".rst", ""}
BINARY_SNIFF_BYTES = 8192


def embedded(name: str) -> Path:
    """A file of the repository's ``corpora/``: beside the package in a checkout or an
    editable install; after ``pip install .`` wherever the installer put pyproject's
    data-files, as the installed distribution's record lists it (``<prefix>/share/textrnn/
    corpora`` in a venv, ``<user base>/share/textrnn/corpora`` after ``pip install --user``)."""
    beside = Path(__file__).resolve().parents[2] / "corpora" / name
    if beside.is_file():
        return beside
    return _installed_data_file(("share", "textrnn", "corpora", *Path(name).parts)) or beside


def _installed_data_file(parts: tuple[str, ...]) -> Path | None:
    """The installed file whose path ends in ``parts``, or None (no such file, or no install).

    The record read is the one beside this package, so another textrnn installed
    elsewhere on sys.path (an editable one, say) cannot answer for it."""
    from importlib import metadata

    site_packages = Path(__file__).resolve().parents[2]
    for dist in metadata.distributions(name="textrnn", path=[str(site_packages)]):
        for file in dist.files or []:
            if file.parts[-len(parts):] == parts and Path(file.locate()).is_file():
                return Path(file.locate()).resolve()
    return None


def default_corpus() -> Path:
    """The embedded default corpus shipped in the repository's ``corpora/``."""
    path = embedded("pydocs.txt")
    if not path.is_file():
        raise CorpusError(f"the embedded default corpus is missing ({path}); pass a CORPUS file")
    return path


def decode_bytes(data: bytes, source: str, encoding_errors: str = "strict") -> str:
    """Decode UTF-8, refusing binary data and naming the byte offset of invalid input."""
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise CorpusError(f"{source}: looks like a binary file (NUL bytes), not UTF-8 text")
    try:
        text = data.decode("utf-8", errors=encoding_errors)
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{source}: invalid UTF-8 at byte {exc.start}; pass --encoding-errors replace to substitute U+FFFD"
        ) from None
    return text.removeprefix("\ufeff")  # a BOM is not text


MAX_JSON_DEPTH = 1000  # pyarrow's JSON reader overflows its stack somewhere between 6,000 and 20,000 levels
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def check_json_file(path: Path) -> None:
    """Refuse, as one CorpusError, JSON lines that would crash the process in pyarrow.

    pyarrow's JSON reader, which ``datasets`` uses, dies with a segmentation fault when a
    block starts with a ``null`` row (pyarrow 26: ``pyarrow.json.read_json(b"null\\n")``)
    and on arrays or objects nested thousands deep, so such a file must never reach it.
    A null row holds no text anyway. A file that is one JSON array (which ``datasets``
    also reads) is checked for null elements.
    """
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
    with f:
        if f.read(BINARY_SNIFF_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
            f.seek(0)
            try:
                rows = json.loads(f.read().removeprefix(b"\xef\xbb\xbf"))
            except (ValueError, RecursionError):
                return  # not JSON, or too deep for Python too: datasets reports its own parse error
            for number, row in enumerate(rows if isinstance(rows, list) else [], start=1):
                if row is None:
                    raise CorpusError(f"{path}: element {number} of the JSON array is null, not an object")
            return
        f.seek(0)
        if _refuse_null_rows_and_bound_depth(f, path):  # nesting may be deep: measure it exactly
            f.seek(0)
            _refuse_deep_nesting(f, path)


def _refuse_null_rows_and_bound_depth(f, path: Path) -> bool:
    """Refuse null rows; True when an upper bound on the nesting passes MAX_JSON_DEPTH.

    Counts brackets at C speed, strings included, so the bound is rough; a value may span
    lines (pyarrow reads it so), so the nesting carries over from line to line.
    """
    depth = 0
    for number, line in enumerate(f, start=1):
        if depth == 0 and line.strip() == b"null":
            raise CorpusError(f"{path}: line {number} is null, not a JSON object")
        opening = line.count(b"[") + line.count(b"{")
        if depth + opening > MAX_JSON_DEPTH:
            return True
        depth = max(0, depth + opening - line.count(b"]") - line.count(b"}"))
    return False


def _refuse_deep_nesting(f, path: Path) -> None:
    depth = 0
    for number, line in enumerate(f, start=1):
        for byte in _JSON_STRING.sub(b"", line).translate(None, _NOT_BRACKETS):  # brackets outside strings
            depth = max(0, depth + (1 if byte in b"[{" else -1))
            if depth > MAX_JSON_DEPTH:
                raise CorpusError(f"{path}: line {number} nests arrays or objects more than {MAX_JSON_DEPTH} deep")


def read_text(path: Path, encoding_errors: str = "strict") -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
    return decode_bytes(data, str(path), encoding_errors)

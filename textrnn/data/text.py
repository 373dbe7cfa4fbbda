"""Reading corpus text from files and directories, with clear errors for bad input."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorpusError

# Files in a corpus directory that are read as text; anything else is skipped.
TEXT_SUFFIXES = {".txt", ".text", ".md", ".rst", ""}
BINARY_SNIFF_BYTES = 8192


def default_corpus() -> Path:
    """The embedded default corpus shipped in the repository's ``corpora/``."""
    path = Path(__file__).resolve().parents[2] / "corpora" / "pydocs.txt"
    if not path.is_file():
        raise CorpusError(f"the embedded default corpus is missing ({path}); pass a CORPUS file")
    return path


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Files named directly, plus text files found under directories, in sorted order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise CorpusError(f"{path}: directory has no text files ({', '.join(sorted(TEXT_SUFFIXES - {''}))})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise CorpusError(f"{path}: no such file or directory")
    return files


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


def read_text(path: Path, encoding_errors: str = "strict") -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
    return decode_bytes(data, str(path), encoding_errors)


@dataclass
class Corpus:
    """Text of a corpus and where it came from."""

    text: str
    files: list[str]
    fingerprint: str


def load_corpus(paths: list[str | Path], encoding_errors: str = "strict") -> Corpus:
    files = expand_paths(paths)
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

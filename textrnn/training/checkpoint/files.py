"""One safetensors file: written atomically, and read only if it really is safetensors.

A pickle, a ``torch.save`` zip or any other file planted where weights should be is
refused from its first bytes and never parsed, let alone executed.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Mapping
from pathlib import Path

import safetensors.torch
import torch

from ...atomic import atomic_write
from ...errors import CheckpointError

# A safetensors header is JSON describing the tensors; real ones are kilobytes. The
# bound only stops a garbage length from making us read a huge "header".
MAX_HEADER = 100 * 1024 * 1024


def write_safetensors_atomic(path: Path, tensors: Mapping[str, torch.Tensor],
                             metadata: dict[str, str] | None = None) -> None:
    """Write one safetensors file via a temp file, fsync and ``os.replace``.

    :raises CheckpointError: if it cannot be written; an existing file is left as it was.
    """
    path = Path(path)
    try:
        data = safetensors.torch.save(dict(tensors), metadata=metadata)
    except Exception as exc:
        raise CheckpointError(f"could not write {path}: {describe_error(exc)}") from exc
    replace_file(path, data)


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file, refusing anything else (a pickle, a torch ``.pt`` zip, ...).

    :raises CheckpointError: if the file is missing, unreadable, or not safetensors.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except OSError as exc:
        raise CheckpointError(f"could not read {path}: {describe_error(exc)}") from None
    return parse_safetensors(data, str(path))


def read_head(f) -> bytes:
    """The first 8 + N bytes of a file: a safetensors length prefix and header, if it is one."""
    prefix = f.read(8)
    header_len = int.from_bytes(prefix, "little") if len(prefix) == 8 else 0
    return prefix + f.read(min(header_len, MAX_HEADER))


def header_problem(head: bytes, file_size: int) -> str | None:
    """Why ``head`` (the first 8 + N bytes of a file) is not a safetensors header, or None.

    safetensors starts with N as a little-endian u64, then N bytes of JSON (an object).
    """
    what = "not a safetensors file"
    if head[:2] == b"PK":
        what += " (it is a zip archive, as torch.save writes)"
    elif head[:1] == b"\x80":
        what += " (it is a pickle)"
    refusal = f"{what}; textrnn never unpickles checkpoints"
    if len(head) < 8:
        return refusal
    header_len = int.from_bytes(head[:8], "little")
    if header_len < 2 or header_len > MAX_HEADER or 8 + header_len > file_size or len(head) < 8 + header_len:
        return refusal
    header = head[8: 8 + header_len]
    if header[:1] != b"{":
        return refusal
    try:
        parsed = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return refusal
    return None if isinstance(parsed, dict) else refusal


def parse_safetensors(data: bytes, label: str) -> dict[str, torch.Tensor]:
    header_len = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    problem = header_problem(data[: 8 + min(header_len, MAX_HEADER)], len(data))
    if problem is not None:
        raise CheckpointError(f"{label} is {problem}")
    try:
        return safetensors.torch.load(data)
    except Exception as exc:  # safetensors raises its own SafetensorError for damaged files
        raise CheckpointError(f"{label} is a damaged safetensors file: {exc}") from None


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "no space left on device"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f": {exc.filename}" if exc.filename else "")
    return str(exc) or type(exc).__name__


def replace_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``.

    :raises CheckpointError: if it cannot be written; an existing file is left as it was.
    """
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise CheckpointError(f"could not write {path}: {describe_error(exc)}") from exc

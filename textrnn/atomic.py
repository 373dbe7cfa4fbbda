"""Atomic file and directory writes: a reader, or a crash, never sees half of one.

Every file textrnn writes for later (run metadata, configs, checkpoints, tokenizers,
study files, plots, the token cache) goes through here. A file is written to a hidden
temporary sibling, fsynced, renamed over its final name with ``os.replace`` (atomic on
POSIX and on Windows), and the directory is fsynced so the rename survives a power cut.
A directory is built the same way and swapped into place, so a crash leaves either the
old directory or the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, data: bytes | str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` (``str`` is written as UTF-8).

    :param durable: fsync the file and its directory (skip only for caches that can be
        rebuilt, where the fsync costs more than a lost entry).
    :raises OSError: if it cannot be written; an existing file is left as it was and
        the temporary file is removed.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with atomic_path(path, durable=durable) as tmp:
        write_new(tmp, payload, durable=durable)


def atomic_write_json(path: str | os.PathLike, data: Any, *, indent: int | None = 1,
                      durable: bool = True) -> None:
    """Replace ``path`` with ``data`` as UTF-8 JSON plus a final newline.

    :raises TypeError, ValueError: if ``data`` is not JSON-serialisable (nothing is written).
    """
    atomic_write(path, json_bytes(data, indent=indent), durable=durable)


def json_bytes(data: Any, *, indent: int | None = 1) -> bytes:
    """``data`` as the JSON textrnn writes: UTF-8, not ASCII-escaped, newline-terminated."""
    return (json.dumps(data, indent=indent, ensure_ascii=False) + "\n").encode("utf-8")


@contextmanager
def atomic_path(path: str | os.PathLike, *, durable: bool = True, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; when the block succeeds, rename it over ``path``.

    For writers that need a file name rather than bytes (a plot, a compiler's output).
    The temporary name keeps ``suffix`` so such writers pick the right format. On any
    error the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def write_new(path: str | os.PathLike, data: bytes, *, durable: bool = True) -> None:
    """Create ``path`` (it must not exist) holding ``data``, fsynced unless ``durable=False``."""
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        if durable:
            os.fsync(f.fileno())


def replace_dir(path: str | os.PathLike, fill: Callable[[Path], Any]) -> Any:
    """Build a directory with ``fill(tmp_dir)`` and swap it into place as ``path``.

    ``fill`` writes into an empty temporary sibling; its files and the directory are
    fsynced, then the directory is renamed to ``path``. An existing ``path`` is moved
    aside first and restored if the rename fails, so a crash at any point leaves the old
    directory or the new one, never a mix (at worst a hidden ``.tmp-``/``.old-`` sibling,
    which the next call removes). Returns what ``fill`` returns.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_own_leftovers(path)
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        result = fill(tmp)
        for child in tmp.rglob("*"):
            if child.is_file():
                _fsync_file(child)
        fsync_dir(tmp)
        move_dir_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(path.parent)
    return result


def move_dir_into_place(tmp: Path, final: Path) -> None:
    """Rename the complete ``tmp`` to ``final``; an existing ``final`` is swapped out, never torn."""
    if not final.exists():
        os.rename(tmp, final)
        return
    aside = final.with_name(f".old-{final.name}-{os.getpid()}")
    if aside.exists():
        shutil.rmtree(aside)
    os.rename(final, aside)
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(aside, final)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename or a new entry in ``path`` durable (a no-op on Windows, which cannot)."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _remove_own_leftovers(path: Path) -> None:
    """Clean up after a crashed :func:`replace_dir` of ``path``: drop a half-built ``.tmp-NAME-PID``
    and put back an ``.old-NAME-PID`` that was moved aside when no new ``path`` took its place."""
    for prefix in (".tmp-", ".old-"):
        for leftover in path.parent.glob(f"{prefix}{path.name}-*"):
            if not leftover.name[len(prefix) + len(path.name) + 1:].isdigit():
                continue
            if prefix == ".old-" and not path.exists():
                os.rename(leftover, path)
            else:
                shutil.rmtree(leftover, ignore_errors=True)

"""textrnn.atomic: a failed or interrupted write leaves the old file or directory whole;
and save_tokenizer, which is built on it, never leaves half a tokenizer."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from textrnn.atomic import atomic_write, atomic_write_json, replace_dir
from textrnn.tokenizers import load_tokenizer, save_tokenizer, train_tokenizer
from textrnn.tokenizers.base import Tokenizer


def contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_atomic_write_replaces_the_whole_file(tmp_path):
    path = tmp_path / "run.json"
    atomic_write_json(path, {"status": "running"})
    atomic_write(path, "é\n")
    assert path.read_bytes() == "é\n".encode() and os.listdir(tmp_path) == ["run.json"]


def test_a_failed_atomic_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text("old = 1\n")
    monkeypatch.setattr(os, "fsync", no_space)  # the disk fills up after the bytes were handed over
    with pytest.raises(OSError, match="No space"):
        atomic_write(path, "new = 2\n" * 1000)
    assert path.read_text() == "old = 1\n" and os.listdir(tmp_path) == ["config.toml"]


class FileTokenizer(Tokenizer):
    """A tokenizer that keeps its table in a file of its own, as sentencepiece does."""

    type_name = "char"

    def __init__(self, table: str, crash: bool = False):
        self.table, self.crash = table, crash

    def to_meta(self):
        return {"table_size": len(self.table)}

    @classmethod
    def from_meta(cls, meta, directory):
        raise NotImplementedError

    def save_files(self, directory):
        (directory / "table.txt").write_text(self.table)
        if self.crash:
            raise KeyboardInterrupt("killed while saving")  # as Ctrl-C or a kill mid-save would
        return ["table.txt"]

    def _file_bytes(self):
        return {"table.txt": self.table.encode()}

    vocab_size = 1
    encode = decode = train = None


def test_a_crash_mid_save_tokenizer_leaves_the_old_tokenizer_whole(tmp_path):
    directory = tmp_path / "tokenizer"
    save_tokenizer(FileTokenizer("abc"), directory)
    before = contents(directory)
    with pytest.raises(KeyboardInterrupt):
        save_tokenizer(FileTokenizer("xyz" * 100, crash=True), directory)
    assert contents(directory) == before
    assert sorted(os.listdir(tmp_path)) == ["tokenizer"]  # no temporary left behind


def test_save_tokenizer_replaces_a_tokenizer_whole(tmp_path):
    directory = tmp_path / "tokenizer"
    save_tokenizer(FileTokenizer("abc"), directory)
    fingerprint = save_tokenizer(train_tokenizer("char", ["hi"]), directory)
    assert sorted(os.listdir(directory)) == ["tokenizer.json"]  # the old table.txt is gone
    assert load_tokenizer(directory).fingerprint() == fingerprint


def test_replace_dir_puts_back_a_directory_a_crash_left_aside(tmp_path):
    """A kill between moving the old directory aside and renaming the new one in."""
    target = tmp_path / "tokenizer"
    aside = tmp_path / f".old-tokenizer-{os.getpid() + 1}"
    aside.mkdir()
    (aside / "tokenizer.json").write_text("old")
    (tmp_path / f".tmp-tokenizer-{os.getpid() + 1}").mkdir()  # the half-built new one

    def fail(tmp):
        raise RuntimeError("interrupted again")

    with pytest.raises(RuntimeError):
        replace_dir(target, fail)
    assert sorted(os.listdir(tmp_path)) == ["tokenizer"] and (target / "tokenizer.json").read_text() == "old"

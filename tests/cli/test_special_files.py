"""A corpus path that exists but is not a regular file gets the truth, not "no such file"."""

from __future__ import annotations

import os
import sys

import pytest

from .helpers import TINY, assert_error, run_cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX device files and FIFOs")


def train(corpus, out):
    return run_cli("train", "lm", corpus, "--out", out, "--max-steps", "3", *TINY)


def test_dev_null_is_an_empty_file(tmp_path):
    result = train(os.devnull, tmp_path / "run")
    assert_error(result, os.devnull, "the file is empty")
    assert "no such file" not in result.stderr


def test_classify_dev_null_is_an_empty_file(tmp_path):
    """classify reads texts through another path; it says the same."""
    from textrnn.data.labelled import read_texts
    from textrnn.errors import CorpusError

    with pytest.raises(CorpusError, match="the file is empty"):
        read_texts(os.devnull)


def test_a_fifo_is_refused_by_name_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert_error(train(fifo, tmp_path / "run"), "pipe", "not a regular file")


def test_a_missing_file_is_still_missing(tmp_path):
    assert_error(train(tmp_path / "nope.txt", tmp_path / "run"), "nope.txt", "no such file or directory")

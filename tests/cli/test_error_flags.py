"""Library errors name config fields; the command line adds the flag that sets each."""

from __future__ import annotations

from .helpers import assert_error, run_cli


def test_an_lm_config_error_names_its_flag(tmp_path):
    result = run_cli("train", "lm", "--out", tmp_path / "run", "--lr", "-1")
    assert_error(result, "lr must be positive", "(--lr)")


def test_a_classifier_config_error_names_its_flag(tmp_path):
    result = run_cli("train", "classifier", "--out", tmp_path / "run", "--max-length", "0")
    assert_error(result, "max_length must be at least 1", "(--max-length)")


def test_an_error_that_names_no_config_field_is_left_alone():
    from textrnn.cli.common import with_flag

    assert with_flag("hidden_size must be positive") == "hidden_size must be positive"  # a model option
    assert with_flag("the file is empty") == "the file is empty"
    assert with_flag("keep_last must be at least 1, got 0") == "keep_last must be at least 1, got 0 (--keep-last)"

"""The hand-written TOML writer reads back exactly; the reader checks keys and types."""

from __future__ import annotations

import sys

import pytest

from textrnn.config_files import check_config_values, config_to_toml, read_config_file
from textrnn.errors import ConfigError
from textrnn.training.classifier_config import ClassifierConfig
from textrnn.training.config import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def test_writer_round_trips_through_tomllib():
    data = {
        "name": 'quote " backslash \\ tab \t newline \n bell \x07 unicode é',
        "count": 3, "ratio": 0.1, "tiny": 3e-9, "whole": 2.0, "flag": False, "unset": None,
        "files": ["a.txt", "b c.txt"], "numbers": [1, 2.5, True],
        "model_options": {"hidden_size": 8, "odd key": "x", "nested": {"deep": [1, 2]}, "gone": None},
        "empty": {},
    }
    text = config_to_toml(data, header="first line\nsecond line")
    assert text.startswith("# first line\n# second line\n")
    back = tomllib.loads(text)
    expected = {k: v for k, v in data.items() if v is not None}
    expected["model_options"] = {k: v for k, v in data["model_options"].items() if v is not None}
    assert back == expected
    assert isinstance(back["whole"], float) and isinstance(back["count"], int)


def test_every_default_config_round_trips():
    for cls in (TrainConfig, ClassifierConfig):
        config = cls()
        values = check_config_values(tomllib.loads(config_to_toml(config.to_dict())), cls)
        assert cls.from_dict(values) == config


def test_reader_checks_keys_and_types(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('batch-size = 8\nepochs = 2\ncorpus = "one.txt"\n[model_options]\nhidden-size = 4\n')
    assert read_config_file(path, TrainConfig) == {
        "batch_size": 8, "epochs": 2.0, "corpus": ["one.txt"], "model_options": {"hidden_size": 4}}
    for text, fragment in [
        ("batch_sise = 8", "'batch_sise' (did you mean 'batch_size'?)"),
        ("hidden_size = 8", "[model_options]"),
        ("batch_size = 8.5", "batch_size must be an integer"),
        ("lr = true", "lr must be a number"),
        ("corpus = [1]", "corpus must be a list of strings"),
        ("batch_size = 1\nbatch-size = 2", "set twice"),
        ("batch_size = ", "not valid TOML"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError, match="run.toml") as caught:
            read_config_file(path, TrainConfig)
        assert fragment in str(caught.value), (text, str(caught.value))
    with pytest.raises(ConfigError, match="does not exist"):
        read_config_file(tmp_path / "absent.toml", TrainConfig)

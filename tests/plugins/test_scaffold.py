"""``textrnn plugins new``: the scaffold is refused where it would clash, and what it writes works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import assert_error, run_cli

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def test_new_writes_an_installable_package(tmp_path):
    out = tmp_path / "textrnn-demo"
    result = run_cli("plugins", "new", "my_cell", "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["package"] == "textrnn_my_cell"
    assert sorted(summary["files"]) == sorted(["pyproject.toml", "README.md", "textrnn_my_cell/__init__.py",
                                               "textrnn_my_cell/model.py", "tests/test_my_cell.py"])
    project = tomllib.loads((out / "pyproject.toml").read_text())
    assert project["project"]["name"] == "textrnn-my-cell"
    assert project["project"]["entry-points"]["textrnn"] == {"my_cell": "textrnn_my_cell"}
    init = (out / "textrnn_my_cell" / "__init__.py").read_text()
    assert "class MyCellOptions" in init and "import torch" not in init  # listing models stays fast
    assert "textrnn.testing" in (out / "tests" / "test_my_cell.py").read_text()


def test_new_defaults_to_a_directory_named_after_the_distribution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("plugins", "new", "demo")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "textrnn-demo" / "textrnn_demo" / "model.py").is_file()
    assert "pip install -e" in result.stdout


def test_new_never_overwrites(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert_error(run_cli("plugins", "new", "demo", "--out", out), "already exists", "--out")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert run_cli("plugins", "new", "demo", "--out", tmp_path / "empty").exit_code == 0
    (tmp_path / "empty2").mkdir()  # an empty directory is fine: nothing in it to overwrite
    assert run_cli("plugins", "new", "demo", "--out", tmp_path / "empty2").exit_code == 0


@pytest.mark.parametrize("name, fragment", [
    ("My-Model", "lowercase Python identifier"),
    ("9lives", "lowercase Python identifier"),
    ("lstm", "already registered by plugin 'recurrent'"),
    ("char", "'textrnn_char' is already importable"),
])
def test_new_refuses_bad_or_taken_names(tmp_path, name, fragment):
    assert_error(run_cli("plugins", "new", name, "--out", tmp_path / "p"), fragment)
    assert not (tmp_path / "p").exists()


def install_as_distribution(package_dir: Path, site: Path) -> None:
    """Make a generated package look pip-installed: a *.dist-info built from its own pyproject.toml."""
    project = tomllib.loads((package_dir / "pyproject.toml").read_text())["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    entries = "".join(f"{k} = {v}\n" for k, v in project["entry-points"]["textrnn"].items())
    (info / "entry_points.txt").write_text(f"[textrnn]\n{entries}")


def test_scaffolded_plugin_passes_its_own_tests_and_trains(tmp_path, small_corpus):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TEXTRNN_STRICT_PLUGINS": "1"}

    def run(*args, cwd=tmp_path):
        done = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
        return done

    package = tmp_path / "textrnn-demo"
    run("-m", "textrnn", "plugins", "new", "demo", "--out", package)
    install_as_distribution(package, tmp_path / "site")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "site"), str(package)])

    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=package)
    assert "3 passed" in tests.stdout, tests.stdout
    listed = {m["name"]: m for m in json.loads(run("-m", "textrnn", "models", "--json").stdout)}
    assert listed["demo"]["plugin"] == "demo"
    result = run("-m", "textrnn", "train", "lm", small_corpus, "--out", tmp_path / "run", "--model", "demo",
                 "--max-steps", "3", "--eval-every", "3", "--batch-size", "4", "--seq-len", "16",
                 "--sample-tokens", "0", "--hidden-size", "16", "--embedding-dim", "8", "--json")
    assert json.loads(result.stdout.splitlines()[-1])["steps"] == 3
    assert json.loads((tmp_path / "run" / "run.json").read_text())["plugin"] == "demo"

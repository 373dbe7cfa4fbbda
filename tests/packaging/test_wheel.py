"""The project as users install it: a wheel in a fresh venv, not the editable checkout.

An editable install finds ``corpora/`` and ``plugins/`` beside the package; a wheel must
carry them itself (the corpora as data files under ``<prefix>/share/textrnn/corpora``,
the first-party plugins as top-level packages with entry points). The new venv borrows
torch and the other dependencies from this environment through a ``.pth`` file, so
nothing is downloaded, and it runs from a temporary directory so that the checkout
cannot be imported by accident.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# What a clean clone holds, less the build leftovers that setuptools would reuse.
IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "runs",
                                ".pytest_cache", ".hypothesis")


def run(cmd: list, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env={**environment, "OMP_NUM_THREADS": "1", **env},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout}\n{result.stderr}"
    return result


def build_wheel(root: Path) -> Path:
    """``pip wheel`` of a copy of the checkout; offline when this environment has setuptools."""
    source = root / "source"
    shutil.copytree(REPO, source, ignore=IGNORE)
    offline = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *offline, "-w", root / "dist", source], cwd=root)
    (wheel,) = (root / "dist").glob("textrnn-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def fresh_venv(env: Path) -> Path:
    """A new venv whose dependencies come from this environment (but not its textrnn)."""
    run([sys.executable, "-m", "venv", "--system-site-packages", env], cwd=env.parent)
    purelib = run([env / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                  cwd=env.parent).stdout.strip()
    # A path listed in a .pth file joins sys.path after the venv's own site-packages, and the
    # .pth files inside it (this environment's editable textrnn) are not run.
    ours = [*site.getsitepackages(), sysconfig.get_path("purelib")]
    Path(purelib, "dependencies_from_test_env.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")
    return env


@pytest.fixture(scope="module")
def venv(wheel) -> Path:
    """A fresh venv with the wheel installed (not -e)."""
    env = fresh_venv(wheel.parents[1] / "venv")
    run([env / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], cwd=env.parent)
    return env


def test_the_wheel_is_what_gets_imported(venv, tmp_path):
    out = run([venv / "bin" / "python", "-c", "import textrnn, textrnn_recurrent, textrnn_char; "
               "print(textrnn.__file__); print(textrnn_recurrent.__file__); print(textrnn_char.__file__)"],
              cwd=tmp_path).stdout.split()
    assert len(out) == 3
    for path in out:
        assert Path(path).is_relative_to(venv), f"{path} is not the wheel's copy in {venv}"


def test_first_party_plugins_load_from_the_wheel(venv, tmp_path):
    result = run([venv / "bin" / "textrnn", "models"], cwd=tmp_path)
    names = {line.split()[0] for line in result.stdout.splitlines() if line and not line[0].isspace()}
    assert {"lstm", "gru", "bilstm", "mingru", "hawk"} <= names, result.stdout
    # The test environment's own third-party plugins (an editable plugins/mlstm, whose
    # module this venv cannot import) may fail to load here; none of the wheel's may.
    failed = [line for line in result.stderr.splitlines() if "failed to load" in line]
    assert all("'mlstm'" in line for line in failed), result.stderr


def test_train_lm_on_the_embedded_corpus_from_the_wheel(venv, tmp_path):
    run([venv / "bin" / "textrnn", "train", "lm", "--max-steps", "5", "--out", "run"], cwd=tmp_path,
        TEXTRNN_CACHE_DIR=str(tmp_path / "cache"))
    run_dir = tmp_path / "run"
    assert (run_dir / "checkpoints" / "step-00000005" / "model.safetensors").is_file()
    (corpus,) = json.loads((run_dir / "run.json").read_text())["corpus"]["files"]
    assert Path(corpus).resolve() == (venv / "share" / "textrnn" / "corpora" / "pydocs.txt").resolve()


def test_train_forecast_on_the_embedded_series_from_the_wheel(venv, tmp_path):
    """The forecast plugin ships in the wheel and finds AirPassengers among its data files."""
    run([venv / "bin" / "textrnn", "train", "forecast", "--max-steps", "5", "--out", "run"], cwd=tmp_path)
    data = json.loads((tmp_path / "run" / "run.json").read_text())["data"]
    expected = venv / "share" / "textrnn" / "corpora" / "airpassengers" / "airpassengers.csv"
    assert Path(data).resolve() == expected.resolve()
    assert (expected.parent / "SOURCE.md").is_file()


def test_a_user_install_finds_its_embedded_corpora(wheel, tmp_path):
    """``pip install --user`` puts the data files under the user base, not under sys.prefix."""
    python = fresh_venv(tmp_path / "venv") / "bin" / "python"
    user = {"PYTHONUSERBASE": str(tmp_path / "userbase")}
    run([python, "-m", "pip", "install", "-q", "--user", "--no-deps", "--no-index", wheel], cwd=tmp_path, **user)
    out = run([python, "-c", "import textrnn; from textrnn.data.text import embedded; "
               "print(textrnn.__file__); print(embedded('pydocs.txt')); print(embedded('sentiment.tsv'))"],
              cwd=tmp_path, **user).stdout.split()
    assert len(out) == 3
    for path in out:
        assert Path(path).resolve().is_relative_to((tmp_path / "userbase").resolve()), out
    assert all(Path(path).is_file() for path in out[1:])

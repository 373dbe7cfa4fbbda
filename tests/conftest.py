"""Shared fixtures: plugin isolation, small corpora, and the shared research corpora."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Token caches written by tests go to a throwaway folder, never the user's ~/.cache.
os.environ.setdefault("TEXTRNN_CACHE_DIR", tempfile.mkdtemp(prefix="textrnn-test-cache-"))
os.environ.setdefault("TEXTRNN_NATIVE_DIR", tempfile.mkdtemp(prefix="textrnn-test-native-"))  # the compiled step

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "corpora"


def under_ci() -> bool:
    """True under CI (``CI=true``), where a missing test prerequisite is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def shared_corpus(*parts: str) -> Path:
    """Path to a file in ../shared/corpora, skipping the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/corpora/{'/'.join(parts)}, which is absent here")
    return path


@pytest.fixture(autouse=True)
def _fresh_plugins(monkeypatch):
    """Each test sees freshly discovered plugins and no leftover plugin env switches."""
    from textrnn import plugins
    from textrnn.cli import common

    for name in ("TEXTRNN_DISABLE_PLUGIN_AUTOLOAD", "TEXTRNN_STRICT_PLUGINS", "TEXTRNN_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    plugins.reset()
    common.reset_warnings()
    yield
    plugins.reset()
    common.reset_warnings()


def english_like(n_chars: int, seed: int = 0) -> str:
    """Deterministic pseudo-English text made of a small vocabulary of words."""
    rng = random.Random(seed)
    words = ("the cat sat on a mat and the dog ran to it while birds sang in trees "
             "a small house stood by the river where people came to rest").split()
    lines, size = [], 0
    while size < n_chars:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) + ".\n"
        lines.append(line)
        size += len(line)
    return "".join(lines)[:n_chars]


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(english_like(20_000), encoding="utf-8")
    return path

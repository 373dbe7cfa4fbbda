"""Tiny trained runs (session-scoped), an in-process client and a real ``textrnn serve`` process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.helpers import run_cli
from tests.cli.test_classifier_cli import rows, write_tsv
from tests.conftest import english_like

pytest.importorskip("starlette", reason="textrnn serve needs the serve extra")
pytest.importorskip("uvicorn", reason="textrnn serve needs the serve extra")

LM_ARGS = ["--hidden-size", "32", "--embedding-dim", "16", "--num-layers", "1", "--batch-size", "8",
           "--seq-len", "32", "--sample-tokens", "0"]


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A 5-step char LSTM language model and a 5-step classifier, trained once per session."""
    root = tmp_path_factory.mktemp("serve-runs")
    corpus = root / "corpus.txt"
    corpus.write_text(english_like(20_000), encoding="utf-8")
    result = run_cli("train", "lm", corpus, "--out", root / "lm", "--max-steps", "5", *LM_ARGS)
    assert result.exit_code == 0, result.stderr
    tsv = write_tsv(root / "train.tsv", rows(160, seed=1))
    result = run_cli("train", "classifier", tsv, "--out", root / "clf", "--max-steps", "5", "--embedding-dim", "8",
                     "--hidden-size", "8", "--batch-size", "16", "--threads", "1")
    assert result.exit_code == 0, result.stderr
    return {"lm": root / "lm", "clf": root / "clf"}


def make_client(runs, **limits):
    from starlette.testclient import TestClient
    from textrnn_serve.app import Limits, Service
    from textrnn_serve.models import load_models

    api_key = limits.pop("api_key", None)
    cors = limits.pop("cors_origins", ())
    max_batch = limits.pop("max_batch", 8)
    models = load_models([f"lm={runs['lm']}", f"clf={runs['clf']}"], "cpu", max_batch)
    service = Service(models, Limits(**{"max_tokens": 200, **limits}), api_key, cors)
    client = TestClient(service.app(), raise_server_exceptions=False)
    client.service = service
    return client


@pytest.fixture
def client(runs):
    with make_client(runs) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``textrnn serve`` in a child process on 127.0.0.1 and a free port."""

    def __init__(self, runs, *extra: str, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "textrnn", "serve", f"lm={runs['lm']}", f"clf={runs['clf']}",
                   "--port", str(self.port), "--log-level", "warning", *extra]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, **(env or {})})
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 240.0) -> None:  # generous: CI machines may be busy
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"textrnn serve exited: {self.process.stderr.read()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("textrnn serve did not answer /health in time")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


API_KEY = "test-key"


@pytest.fixture(scope="session")
def server(runs):
    """One server for the live and browser tests; the API key comes from TEXTRNN_API_KEY, as documented."""
    live = LiveServer(runs, "--max-tokens", "10000000", "--request-timeout", "1.5", env={"TEXTRNN_API_KEY": API_KEY})
    yield live
    assert live.stop() == 0

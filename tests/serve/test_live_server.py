"""A real ``textrnn serve`` process: the openai client, disconnects, slow uploads, SIGTERM, fast --help."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

import textrnn

from .conftest import API_KEY as KEY
from .conftest import LiveServer

AUTH = {"authorization": f"Bearer {KEY}"}


def test_openai_client_plain_and_streaming(server, runs):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY)
    want = textrnn.load(runs["lm"]).generate(prompt="the cat", max_tokens=30, seed=11, temperature=0.8)[0]
    plain = client.completions.create(model="lm", prompt="the cat", max_tokens=30, seed=11, temperature=0.8)
    assert plain.choices[0].text == want and plain.choices[0].finish_reason == "length"
    assert plain.usage.completion_tokens == 30
    chunks = list(client.completions.create(model="lm", prompt="the cat", max_tokens=30, seed=11, temperature=0.8,
                                            stream=True))
    assert len(chunks) > 2
    assert "".join(c.choices[0].text for c in chunks) == want
    assert [m.id for m in client.models.list()] == ["lm", "clf"]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="wrong").completions.create(model="lm", prompt="a")
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="no-such-model", prompt="a")


def rows_in_batch(server) -> int:
    metrics = httpx.get(server.url + "/metrics", headers=AUTH).text
    line = next(line for line in metrics.splitlines() if line.startswith('textrnn_batch_rows{model="lm"}'))
    return int(float(line.split()[-1]))


def test_client_disconnecting_mid_stream_frees_its_rows(server):
    body = {"model": "lm", "prompt": "the", "max_tokens": 10**7, "stream": True}  # hours of work
    with httpx.stream("POST", server.url + "/v1/completions", json=body, headers=AUTH, timeout=10) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        assert rows_in_batch(server) == 1  # generating
    # the connection is closed after a few tokens: the server notices and drops the row
    deadline = time.monotonic() + 10
    while rows_in_batch(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rows_in_batch(server) == 0
    response = httpx.post(server.url + "/v1/completions", json={"model": "lm", "max_tokens": 5}, headers=AUTH)
    assert response.status_code == 200 and response.json()["usage"]["completion_tokens"] == 5


def read_reply(sock) -> str:
    """The whole HTTP reply: headers and Content-Length bytes of body (one recv may hold less)."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()


def _content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def test_stalled_upload_gets_408(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        head = (f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {KEY}\r\nContent-Length: 100\r\n\r\n")
        sock.sendall(head.encode() + b'{"prompt": "the')  # and then nothing: the client stalls
        reply = read_reply(sock)
    assert reply.startswith("HTTP/1.1 408"), reply
    assert json.loads(reply.split("\r\n\r\n", 1)[1])["error"]["type"] == "timeout_error"
    assert httpx.get(server.url + "/health").status_code == 200


def test_sigterm_drains_requests_in_flight_then_exits_0(runs):
    live = LiveServer(runs, "--max-tokens", "5000")
    events, started = [], threading.Event()

    def stream():
        body = {"model": "lm", "prompt": "the", "max_tokens": 5000, "stream": True}
        with httpx.stream("POST", live.url + "/v1/completions", json=body, timeout=60) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(line[6:])
                    started.set()

    thread = threading.Thread(target=stream)
    thread.start()
    assert started.wait(30)
    live.process.send_signal(signal.SIGTERM)
    thread.join(60)
    code = live.process.wait(60)
    stderr = live.process.stderr.read()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
    assert json.loads(events[-2])["choices"][0]["finish_reason"] == "length"
    assert len(text) == 5000  # char model: every one of the 5000 tokens arrived


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"]])
def test_help_starts_without_importing_torch(args):
    probe = ("import sys, runpy; sys.argv = ['textrnn', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('textrnn', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', 'STARLETTE' if 'starlette' in sys.modules else '')")
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "NO-TORCH"

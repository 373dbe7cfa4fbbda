"""Every endpoint of ``textrnn serve`` in process (Starlette's TestClient), against the library's answers."""

from __future__ import annotations

import json

import pytest

import textrnn
from tests.cli.helpers import run_cli

from .conftest import make_client


def sse_events(response) -> list:
    """The ``data:`` payloads of a server-sent-event response, JSON-decoded ([DONE] kept as a string)."""
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            payload = line[len("data: "):]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def test_seeded_completion_equals_textrnn_generate(client, runs):
    body = {"model": "lm", "prompt": "the cat", "max_tokens": 40, "temperature": 0.9, "seed": 7}
    response = client.post("/v1/completions", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    cli = run_cli("generate", runs["lm"], "--prompt", "the cat", "--max-tokens", "40", "--temperature", "0.9",
                  "--seed", "7", "--json")
    assert cli.exit_code == 0, cli.stderr
    assert data["choices"][0]["text"] == json.loads(cli.stdout)["text"]
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"] == {"prompt_tokens": 7, "completion_tokens": 40, "total_tokens": 47}


def test_n_samples_equal_num_samples_and_stream_equals_plain(client, runs):
    run = textrnn.load(runs["lm"])
    body = {"model": "lm", "prompt": "a dog", "max_tokens": 25, "seed": 3, "n": 3, "top_p": 0.9}
    plain = client.post("/v1/completions", json=body).json()
    want = run.generate(prompt="a dog", max_tokens=25, seed=3, num_samples=3, top_p=0.9)
    assert [c["text"] for c in plain["choices"]] == want
    with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    texts = ["", "", ""]
    for event in events[:-1]:
        choice = event["choices"][0]
        texts[choice["index"]] += choice["text"]
    assert texts == want
    assert sorted(e["choices"][0]["index"] for e in events[:-1] if e["choices"][0]["finish_reason"]) == [0, 1, 2]


def test_temperature_zero_is_greedy_and_stop_ends_text(client, runs):
    run = textrnn.load(runs["lm"])
    greedy = run.generate(prompt="the", max_tokens=30, greedy=True)[0]
    stop = greedy[5:7]
    data = client.post("/v1/completions", json={"prompt": "the", "max_tokens": 30, "temperature": 0,
                                                "stop": stop}).json()
    assert data["choices"][0]["text"] == greedy[: greedy.index(stop)]
    assert data["choices"][0]["finish_reason"] == "stop"


def test_tgi_generate_and_stream(client, runs):
    run = textrnn.load(runs["lm"])
    data = client.post("/generate", json={"inputs": "the", "parameters": {"max_new_tokens": 20}}).json()
    assert data["generated_text"] == run.generate(prompt="the", max_tokens=20, greedy=True)[0]  # TGI: greedy default
    assert data["details"] == {"finish_reason": "length", "generated_tokens": 20, "seed": None}
    params = {"max_new_tokens": 30, "seed": 5, "top_k": 4, "temperature": 0.7, "repetition_penalty": 1.3}
    want = run.generate(prompt="the", max_tokens=30, seed=5, top_k=4, temperature=0.7, repetition_penalty=1.3)[0]
    assert client.post("/generate", json={"inputs": "the", "parameters": params}).json()["generated_text"] == want
    with client.stream("POST", "/generate_stream", json={"model": "lm", "inputs": "the", "parameters": params}) as r:
        events = sse_events(r)
    assert "".join(e["token"]["text"] for e in events) == want
    assert events[-1]["generated_text"] == want and events[-1]["details"]["finish_reason"] == "length"
    stop = want[10:12]
    stopped = client.post("/generate", json={"inputs": "the", "parameters": {**params, "stop": [stop]}}).json()
    assert stopped["generated_text"] == want[: want.index(stop)]
    assert stopped["details"]["finish_reason"] == "stop_sequence"


def test_score_and_classify_equal_the_library(client, runs):
    lm, clf = textrnn.load(runs["lm"]), textrnn.load(runs["clf"])
    texts = ["the cat sat on a mat.", "birds sang"]
    scored = client.post("/score", json={"model": "lm", "texts": texts}).json()
    assert scored["results"] == [pytest.approx(lm.score(t)) for t in texts]
    assert {"loss", "perplexity", "bits_per_char"} <= set(scored["results"][0])
    labelled = client.post("/classify", json={"texts": ["a great film", "dull plot"]}).json()
    assert labelled["model"] == "clf"
    assert [r["label"] for r in labelled["results"]] == [r["label"] for r in clf.classify(["a great film", "dull plot"])]
    assert sum(labelled["results"][0]["probs"].values()) == pytest.approx(1.0)


def test_models_health_info_and_metrics(client):
    assert client.get("/health").json() == {"status": "ok"}
    listed = client.get("/v1/models").json()
    assert [(m["id"], m["task"]) for m in listed["data"]] == [("lm", "lm"), ("clf", "classifier")]
    info = client.get("/info").json()
    assert info["version"] == textrnn.__version__ and info["limits"]["max_tokens"] == 200
    assert info["models"][1]["labels"] == ["neg", "pos"]
    client.post("/v1/completions", json={"prompt": "the", "max_tokens": 12})
    client.post("/v1/completions", json={"prompt": "the", "max_tokens": "x"})
    client.post("/generate_stream", json={"inputs": "the", "parameters": {"max_new_tokens": 4}})
    text = client.get("/metrics").text
    assert 'textrnn_requests_total{path="/v1/completions",status="200"} 1' in text
    assert 'textrnn_requests_total{path="/v1/completions",status="422"} 1' in text
    assert 'textrnn_tokens_total{model="lm",kind="completion"} 16' in text
    assert 'textrnn_request_duration_seconds_count{path="/v1/completions"} 2' in text
    assert '# TYPE textrnn_request_duration_seconds histogram' in text
    assert 'textrnn_time_to_first_token_seconds_bucket{model="lm",le="+Inf"} 1' in text


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == status and "Traceback" not in response.text
    return body["error"]["message"]


# ---- bad input: one test per case; the server keeps serving after each ---------------------------------------

def still_serving(client) -> None:
    assert client.post("/v1/completions", json={"prompt": "the", "max_tokens": 3}).status_code == 200


def test_malformed_json_is_400(client):
    assert "malformed JSON" in error_of(client.post("/v1/completions", content=b'{"prompt": "the",'), 400)
    assert "must be an object" in error_of(client.post("/generate", content=b"[1, 2]"), 400)
    still_serving(client)


def test_wrong_type_is_422(client):
    assert "max_tokens must be a JSON integer" in error_of(
        client.post("/v1/completions", json={"prompt": "the", "max_tokens": "10"}), 422)
    assert "temperature" in error_of(client.post("/v1/completions", json={"temperature": True}), 422)
    assert "prompt" in error_of(client.post("/v1/completions", json={"prompt": 5}), 422)
    assert "texts" in error_of(client.post("/classify", json={"texts": [1, 2]}), 422)
    still_serving(client)


def test_out_of_range_values_are_422(client):
    assert "at most 200" in error_of(client.post("/v1/completions", json={"max_tokens": 201}), 422)
    assert "at most 200" in error_of(client.post("/generate", json={"inputs": "a",
                                                                    "parameters": {"max_new_tokens": 10**9}}), 422)
    assert "n must be at most 8" in error_of(client.post("/v1/completions", json={"n": 9}), 422)
    assert "top_p" in error_of(client.post("/v1/completions", json={"top_p": 0}), 422)
    assert "temperature" in error_of(client.post("/v1/completions", json={"temperature": -1}), 422)
    still_serving(client)


def test_unknown_model_is_404_and_paths_are_not_models(client, runs):
    assert "unknown model 'gpt-4'" in error_of(client.post("/v1/completions", json={"model": "gpt-4"}), 404)
    assert "unknown model" in error_of(client.post("/v1/completions", json={"model": str(runs["lm"])}), 404)
    assert "classifier" in error_of(client.post("/classify", json={"model": "lm", "texts": ["a"]}), 422)
    still_serving(client)


def test_missing_api_key_is_401(runs):
    with make_client(runs, api_key="s3cret") as client:
        assert client.get("/health").status_code == 200
        assert "API key" in error_of(client.post("/v1/completions", json={"prompt": "a"}), 401)
        assert error_of(client.get("/v1/models", headers={"authorization": "Bearer wrong"}), 401)
        assert error_of(client.get("/metrics"), 401)
        good = {"authorization": "Bearer s3cret"}
        assert client.post("/v1/completions", json={"max_tokens": 2}, headers=good).status_code == 200


def test_body_over_size_limit_is_413(runs):
    with make_client(runs, max_body_bytes=1000) as client:
        big = json.dumps({"prompt": "a" * 2000})
        assert "over the limit" in error_of(client.post("/v1/completions", content=big), 413)

        def chunks():  # no content-length: the cap holds while reading
            yield big[:600].encode()
            yield big[600:].encode()

        assert "over the limit" in error_of(client.post("/v1/completions", content=chunks()), 413)
        assert client.post("/v1/completions", json={"max_tokens": 2}).status_code == 200


def test_stalled_request_times_out_with_504(runs):
    with make_client(runs, request_timeout=0.3) as client:
        generator = client.service.models["lm"].generator
        submit = generator.submit
        stuck = []
        generator.submit = stuck.append  # a hung model: the request is taken and nothing ever comes back
        assert "stalled for 0.3 s" in error_of(client.post("/v1/completions", json={"max_tokens": 5}), 504)
        assert stuck and stuck[0].cancelled.is_set()  # its rows would leave the batch at the next step
        generator.submit = submit
        still_serving(client)


def test_cors_is_off_unless_an_origin_is_given(runs):
    preflight = {"origin": "https://example.org", "access-control-request-method": "POST"}
    with make_client(runs) as client:
        assert "access-control-allow-origin" not in client.options("/v1/completions", headers=preflight).headers
    with make_client(runs, cors_origins=("https://example.org",)) as client:
        response = client.options("/v1/completions", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://example.org"


def test_serve_command_refuses_bad_runs_with_one_error_line(tmp_path, runs):
    from tests.cli.helpers import assert_error

    assert_error(run_cli("serve", tmp_path / "missing"), "missing")
    assert_error(run_cli("serve", f"a={runs['lm']}", f"a={runs['clf']}"), "two runs are served as 'a'")
    assert_error(run_cli("serve", "../x=y"), "model name")
    assert_error(run_cli("serve", runs["lm"], "--max-n", "64", "--max-batch", "8"), "--max-n (64) cannot exceed")

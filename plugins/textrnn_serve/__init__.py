"""``textrnn serve``: trained runs behind an HTTP API (OpenAI-compatible and TGI-shaped) with a playground.

A first-party plugin: it adds its command through the ``register_commands`` hook, as a
third-party plugin would. Nothing heavy is imported here, so ``textrnn --help`` and
``textrnn serve --help`` stay fast; Starlette, uvicorn and torch load when the server starts.
Install the web stack with ``pip install "textrnn[serve]"``.
"""

from __future__ import annotations

from typing import Optional

import typer

import textrnn

__version__ = textrnn.__version__


def serve(
    runs: list[str] = typer.Argument(..., help="Runs to serve, each RUN (named after its directory) or NAME=RUN."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; 0.0.0.0 exposes the server to the network."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="TEXTRNN_API_KEY",
                                          help="Require 'Authorization: Bearer KEY' on every endpoint but /health."),
    cors_origin: Optional[list[str]] = typer.Option(None, "--cors-origin",
                                                    help="Allow browser calls from this origin (repeatable). Default: none."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu, cuda or mps."),
    max_batch: int = typer.Option(32, "--max-batch", help="Most samples generated together in one batched step, per model."),
    max_tokens: int = typer.Option(1024, "--max-tokens", help="Cap on max_tokens (max_new_tokens) of one request."),
    max_n: int = typer.Option(8, "--max-n", help="Cap on samples (n x prompts) of one request."),
    max_texts: int = typer.Option(64, "--max-texts", help="Cap on texts in one /score or /classify request."),
    max_body_bytes: int = typer.Option(1 << 20, "--max-body-bytes", help="Cap on a request body, in bytes."),
    request_timeout: float = typer.Option(60.0, "--request-timeout",
                                          help="Seconds a request may stall (upload, or wait for its next token)."),
    drain_timeout: float = typer.Option(30.0, "--drain-timeout",
                                        help="On SIGTERM or Ctrl-C, seconds to let requests in flight finish."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level: debug, info, warning or error."),
) -> None:
    """Serve language models and classifiers over HTTP, with a playground page at /.

    Endpoints: POST /v1/completions (OpenAI), /generate and /generate_stream (text-generation-
    inference), /score, /classify; GET /v1/models, /health, /info, /metrics (Prometheus).
    Concurrent generation requests for a model share one batched step.
    """
    from textrnn.cli.common import err, load_plugins

    load_plugins()
    try:
        from . import app as app_module
        from . import server
    except ImportError as exc:
        raise textrnn.ConfigError(f"textrnn serve needs the serve extra ({exc.name} is missing): "
                                  "pip install 'textrnn[serve]'") from None
    from .models import load_models

    for name, value in (("max-batch", max_batch), ("max-tokens", max_tokens), ("max-n", max_n),
                        ("max-texts", max_texts), ("max-body-bytes", max_body_bytes)):
        if value < 1:
            raise textrnn.ConfigError(f"--{name} must be at least 1, got {value}")
    if max_n > max_batch:
        raise textrnn.ConfigError(f"--max-n ({max_n}) cannot exceed --max-batch ({max_batch})")
    models = load_models(runs, device, max_batch)
    limits = app_module.Limits(max_body_bytes, max_tokens, max_n, max_texts, request_timeout)
    service = app_module.Service(models, limits, api_key or None, tuple(cors_origin or ()))
    listing = ", ".join(f"{m.name} ({m.task})" for m in models.values())
    err(f"Serving {listing} on http://{host}:{port}/ (playground at /, API key {'required' if api_key else 'off'})")
    server.run(service.app(), host, port, log_level, drain_timeout)


@textrnn.hookimpl
def register_commands(cli: typer.Typer) -> None:
    from textrnn.cli.common import handle_errors

    cli.command("serve")(handle_errors(serve))

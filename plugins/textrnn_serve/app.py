"""The Starlette application: routes, error handlers and middleware of ``textrnn serve``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import textrnn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from . import completions
from .errors import APIError, strings
from .http import CountRequests, RequireAPIKey, read_json
from .metrics import Metrics
from .models import ServedModel, pick

log = logging.getLogger("textrnn.serve")
PLAYGROUND = Path(__file__).with_name("playground.html")
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


@dataclass(frozen=True)
class Limits:
    """Caps on what one request may ask for."""

    max_body_bytes: int = 1 << 20
    max_tokens: int = 1024
    max_n: int = 8
    max_texts: int = 64
    request_timeout: float = 60.0  # seconds a request may stall (body upload, or waiting for its next token)


class Service:
    """The served models with their limits and metrics; ``app()`` builds the ASGI app."""

    def __init__(self, models: dict[str, ServedModel], limits: Limits = Limits(), api_key: str | None = None,
                 cors_origins: tuple[str, ...] = ()):
        self.models = models
        self.limits = limits
        self.api_key = api_key
        self.cors_origins = tuple(cors_origins)
        self.metrics = Metrics()

    async def body(self, request: Request) -> dict:
        return await read_json(request, self.limits.max_body_bytes, self.limits.request_timeout)

    # ---- generation --------------------------------------------------------------------
    async def completions(self, request: Request):
        gen = completions.openai_request(await self.body(request), self.models, self.limits)
        timeout = self.limits.request_timeout
        if gen.stream:
            submitted = completions.Submitted(gen, live=True)
            return StreamingResponse(completions.openai_stream(submitted, request, timeout, self.metrics),
                                     media_type="text/event-stream", headers=SSE_HEADERS)
        results = await completions.collect(gen, request, timeout, self.metrics)
        return JSONResponse(completions.openai_response(gen, results))

    async def generate(self, request: Request):
        gen = completions.tgi_request(await self.body(request), self.models, self.limits)
        results = await completions.collect(gen, request, self.limits.request_timeout, self.metrics)
        return JSONResponse(completions.tgi_response(gen, results[0]))

    async def generate_stream(self, request: Request):
        gen = completions.tgi_request(await self.body(request), self.models, self.limits)
        submitted = completions.Submitted(gen, live=True)
        return StreamingResponse(completions.tgi_stream(submitted, request, self.limits.request_timeout, self.metrics),
                                 media_type="text/event-stream", headers=SSE_HEADERS)

    # ---- scoring and classification ----------------------------------------------------
    def _texts(self, data: dict) -> list[str]:
        texts = strings(data, "texts", limit=self.limits.max_texts) or strings(data, "text", limit=1)
        if not texts:
            raise APIError(422, "give the text to read: texts (a list of strings) or text", param="texts")
        return texts

    async def score(self, request: Request):
        data = await self.body(request)
        served, texts = pick(self.models, data.get("model"), "lm"), self._texts(data)
        results = await asyncio.to_thread(lambda: [served.run.score(t) for t in texts])
        return JSONResponse({"model": served.name, "results": results})

    async def classify(self, request: Request):
        data = await self.body(request)
        served, texts = pick(self.models, data.get("model"), "classifier"), self._texts(data)
        results = await asyncio.to_thread(served.run.classify, texts)
        return JSONResponse({"model": served.name, "results": results})

    # ---- information -------------------------------------------------------------------
    async def list_models(self, request: Request):
        data = [{"id": m.name, "object": "model", "created": 0, "owned_by": "textrnn", "task": m.task}
                for m in self.models.values()]
        return JSONResponse({"object": "list", "data": data})

    async def health(self, request: Request):
        return JSONResponse({"status": "ok"})

    async def info(self, request: Request):
        return JSONResponse({"version": textrnn.__version__, "models": [m.describe() for m in self.models.values()],
                             "limits": asdict(self.limits),
                             "max_batch": next((m.generator.max_batch for m in self.models.values() if m.generator),
                                               None)})

    async def metrics_text(self, request: Request):
        generators = {m.name: m.generator for m in self.models.values() if m.generator is not None}
        gauges = {
            "textrnn_batch_rows": ("Rows (samples) in the running batch, by model.",
                                   {(("model", n),): g.active_rows for n, g in generators.items()}),
            "textrnn_batch_steps": ("Batched steps run so far, by model (a counter read as a gauge).",
                                    {(("model", n),): g.steps for n, g in generators.items()}),
            "textrnn_batch_rows_stepped": ("Sum of the batch sizes of those steps, by model.",
                                           {(("model", n),): g.rows_stepped for n, g in generators.items()}),
        }
        return PlainTextResponse(self.metrics.render(gauges), media_type="text/plain; version=0.0.4")

    async def playground(self, request: Request):
        return HTMLResponse(PLAYGROUND.read_text(encoding="utf-8"))

    # ---- the app -----------------------------------------------------------------------
    def routes(self) -> list[Route]:
        return [
            Route("/", self.playground), Route("/health", self.health), Route("/info", self.info),
            Route("/metrics", self.metrics_text), Route("/v1/models", self.list_models),
            Route("/v1/completions", self.completions, methods=["POST"]),
            Route("/generate", self.generate, methods=["POST"]),
            Route("/generate_stream", self.generate_stream, methods=["POST"]),
            Route("/score", self.score, methods=["POST"]), Route("/classify", self.classify, methods=["POST"]),
        ]

    def app(self) -> Starlette:
        routes = self.routes()
        middleware = [Middleware(CountRequests, metrics=self.metrics, paths={r.path for r in routes})]
        if self.cors_origins:  # off unless asked for: browsers then refuse cross-origin calls
            middleware.append(Middleware(CORSMiddleware, allow_origins=list(self.cors_origins),
                                         allow_methods=["GET", "POST"], allow_headers=["authorization", "content-type"]))
        if self.api_key:
            middleware.append(Middleware(RequireAPIKey, key=self.api_key))
        handlers = {APIError: _api_error, HTTPException: _http_error, textrnn.TextrnnError: _textrnn_error,
                    Exception: _internal_error}
        return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        yield
        # uvicorn has drained the requests in flight by now; stop the generator threads
        for served in self.models.values():
            if served.generator is not None:
                await asyncio.to_thread(served.generator.close, 30)


async def _api_error(request, exc: APIError):
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request, exc: HTTPException):
    return JSONResponse(APIError(exc.status_code, str(exc.detail)).body(), status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _textrnn_error(request, exc: textrnn.TextrnnError):
    return JSONResponse(APIError(422, str(exc)).body(), status_code=422)


async def _internal_error(request, exc: Exception):
    log.exception("internal error on %s", request.url.path)  # the traceback goes to the server log only
    return JSONResponse(APIError(500, f"internal error ({type(exc).__name__})", "server_error").body(),
                        status_code=500)

"""The FastAPI application: endpoints, limits, API key, errors, request ids, access log and
metrics around one `Served` model and its micro-batcher (the contract: serve/__init__.py).

Each request's texts are tokenized and windowed in a worker thread, their windows run
through the shared micro-batcher (serve/batcher.py) with other requests' windows, and the
spans are decoded in a worker thread: the event loop only routes. Every path is the
Predictor's own (encode, probabilities, decode), the one evaluate and the parity check use.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from resume_ner.serve.batcher import MicroBatcher, Overloaded
from resume_ner.serve.metrics import build_metrics
from resume_ner.serve.schemas import (
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    ExtractRequest,
    ExtractResponse,
    ModelInfo,
)

if TYPE_CHECKING:
    from resume_ner.config.schema import ServeConfig

log = logging.getLogger("resume_ner.serve")
access_log = logging.getLogger("resume_ner.serve.access")

API_KEY_HEADER = "X-API-Key"
REQUEST_ID_HEADER = "X-Request-ID"
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# JSON can take up to 6 bytes per character (\uXXXX escapes); plus the envelope.
BYTES_PER_CHAR = 6
ENVELOPE_BYTES = 4096
WARM_UP_TEXT = "Jane Doe\nSoftware Engineer at Example Corp\njane@example.com"
NOT_JSON = "the body is not valid JSON in UTF-8"


def max_body_bytes(settings: Any) -> int:
    """The largest body the settings allow: max_texts texts of max_chars characters."""
    return int(settings.max_texts) * int(settings.max_chars) * BYTES_PER_CHAR + ENVELOPE_BYTES


@dataclass
class Served:
    """The model the service answers with, and what /v1/model says of it."""

    predictor: Any
    name: str
    version: str | None
    precision: str
    source_run: str | None = None
    source_checkpoint: str | None = None
    format_version: int | None = None


class ApiError(Exception):
    """An answer other than 200, with the error body's code and message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(
    request: Request, status: int, code: str, message: str, headers: dict | None = None
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "-")
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return JSONResponse(
        body, status_code=status, headers={**(headers or {}), REQUEST_ID_HEADER: request_id}
    )


def create_app(served: Served, settings: ServeConfig, api_key: str | None = None) -> FastAPI:
    """The service's app with `settings` (serve.*); `api_key` (when given) guards /v1/*."""
    predictor = served.predictor
    batcher = MicroBatcher(
        predictor.probabilities,
        batch_size=settings.batch_size,
        wait_s=settings.batch_wait_ms / 1000.0,
        queue_size=settings.queue_size,
    )
    metrics = build_metrics(lambda: batcher.queued)

    def observe_batch(windows: int, seconds: float) -> None:
        metrics.batch_windows.observe(windows)
        metrics.batch_seconds.observe(seconds)

    batcher.on_batch = observe_batch
    state: dict[str, Any] = {"ready": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        await _extract([WARM_UP_TEXT])  # the first forward pays for ONNX Runtime's set-up
        state["ready"] = True
        log.info(
            "ready: %s (%s) on %s:%s", served.name, served.precision, settings.host, settings.port
        )
        yield
        state["ready"] = False
        drained = await batcher.drain(settings.drain_seconds)
        log.info("stopped (%s)", "drained" if drained else "requests cut at drain_seconds")

    app = FastAPI(
        title="resume-ner",
        summary="Entities of resumes: names, companies, skills, degrees, dates...",
        version=served.version or "unregistered",
        lifespan=lifespan,
        responses={"4XX": {"model": ErrorResponse}, "5XX": {"model": ErrorResponse}},
    )
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=[API_KEY_HEADER, "Content-Type", REQUEST_ID_HEADER],
        )
    app.add_middleware(_BodyLimit, limit=max_body_bytes(settings))

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Response:
        """Request id, access log line and metrics of every request."""
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request.state.request_id = given if SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(elapsed)
        response.headers[REQUEST_ID_HEADER] = request.state.request_id
        access_log.info(
            json.dumps(
                {
                    "request_id": request.state.request_id,
                    "method": request.method,
                    "path": request.url.path,
                    "route": route,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 2),
                    "client": request.client.host if request.client else None,
                }
            )
        )
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(request, error.status, error.code, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return error_response(request, 400, "invalid_json", NOT_JSON)
        where = "; ".join(
            f"{'.'.join(str(x) for x in p.get('loc', ()) if x != 'body') or 'body'}: {p['msg']}"
            for p in problems[:5]
        )
        return error_response(request, 422, "invalid_request", where)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and request.method == "POST":
            # FastAPI's answer to a body json.loads cannot decode (bytes that are not UTF-8).
            return error_response(request, 400, "invalid_json", NOT_JSON)
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
            error.status_code, "http_error"
        )
        return error_response(request, error.status_code, code, str(error.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("request %s failed", getattr(request.state, "request_id", "-"))
        return error_response(request, 500, "internal_error", "unexpected error; see the log")

    def check_key(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get(API_KEY_HEADER, "")
        # Constant-time: the comparison takes as long whatever prefix matches.
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            raise ApiError(
                401,
                "unauthorized",
                f"missing or wrong API key: send it in the {API_KEY_HEADER} header",
                {"WWW-Authenticate": API_KEY_HEADER},
            )

    def check_texts(texts: list[str]) -> None:
        for index, text in enumerate(texts):
            where = f"texts[{index}]" if len(texts) > 1 else "text"
            if len(text) > settings.max_chars:
                raise ApiError(
                    413,
                    "text_too_long",
                    f"{where} has {len(text)} characters, over the limit of "
                    f"{settings.max_chars} (serve.max_chars)",
                )
            if not text.strip():
                raise ApiError(422, "empty_text", f"{where} is empty or only whitespace")

    async def _extract(texts: list[str]) -> list[list[dict[str, Any]]]:
        encodings, windows = await run_in_threadpool(predictor.encode, texts)
        probabilities = await batcher.run(windows)
        spans = await run_in_threadpool(predictor.decode, texts, encodings, windows, probabilities)
        metrics.texts.inc(len(texts))
        metrics.characters.inc(sum(len(t) for t in texts))
        return [
            [
                {
                    "label": s.label,
                    "start": s.start,
                    "end": s.end,
                    "text": text[s.start : s.end],
                    "score": round(float(s.score), 6),
                }
                for s in doc
            ]
            for text, doc in zip(texts, spans, strict=True)
        ]

    async def extract_or_refuse(request: Request, texts: list[str]) -> list[list[dict[str, Any]]]:
        try:
            return await _extract(texts)
        except Overloaded as error:
            raise ApiError(
                503,
                "overloaded",
                f"the service is at capacity ({error}); retry after the Retry-After seconds",
                {"Retry-After": str(int(error.retry_after + 0.999))},
            ) from None
        except Exception:
            # Answered here, inside the middleware, so the 500 is logged and counted like
            # any answer; the service goes on.
            log.exception("request %s failed", request.state.request_id)
            raise ApiError(500, "internal_error", "unexpected error; see the log") from None

    model_ref = {"name": served.name, "version": served.version, "precision": served.precision}

    @app.post("/v1/extract", response_model=ExtractResponse, dependencies=[Depends(check_key)])
    async def extract(request: Request, body: ExtractRequest) -> dict[str, Any]:
        """The entities of one resume, with character offsets into the text as sent."""
        check_texts([body.text])
        (entities,) = await extract_or_refuse(request, [body.text])
        return {"entities": entities, "model": model_ref}

    @app.post("/v1/extract/batch", response_model=BatchResponse, dependencies=[Depends(check_key)])
    async def extract_batch(request: Request, body: BatchRequest) -> dict[str, Any]:
        """The entities of each resume, in order."""
        if not body.texts:
            raise ApiError(422, "no_texts", "texts is empty: give at least one text")
        if len(body.texts) > settings.max_texts:
            raise ApiError(
                422,
                "too_many_texts",
                f"{len(body.texts)} texts, over the limit of {settings.max_texts} per request "
                f"(serve.max_texts)",
            )
        check_texts(body.texts)
        results = await extract_or_refuse(request, body.texts)
        return {"results": [{"entities": e} for e in results], "model": model_ref}

    @app.get("/v1/model", response_model=ModelInfo, dependencies=[Depends(check_key)])
    async def model_info() -> dict[str, Any]:
        """The labels, precision, version and source of the model, and the limits."""
        return {
            **model_ref,
            "labels": list(predictor.labels),
            "source_run": served.source_run,
            "source_checkpoint": served.source_checkpoint,
            "format_version": served.format_version,
            "limits": {"max_chars": settings.max_chars, "max_texts": settings.max_texts},
        }

    @app.get("/health")
    async def health() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/ready", responses={503: {"model": ErrorResponse}})
    async def ready(request: Request) -> Any:
        """The model is loaded and warmed up."""
        if not state["ready"]:
            return error_response(request, 503, "not_ready", "the model is warming up")
        return {"status": "ready"}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    page_html = resources.files("resume_ner.serve").joinpath("page.html").read_text()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(page_html)

    app.state.batcher = batcher
    app.state.metrics = metrics
    return app


class _BodyLimit:
    """413 for a body over `limit` bytes, by its Content-Length or as it streams in."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send)
            return
        seen, refused = 0, False

        async def counted() -> dict:
            nonlocal seen, refused
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit and not refused:
                # Answer now; the app then sees a disconnected client, and what it would
                # still send is dropped.
                refused = True
                await self._refuse(scope, send)
                return {"type": "http.disconnect"}
            return message

        async def guarded(message: dict) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, guarded)

    async def _refuse(self, scope: dict, send: Any) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "body_too_large",
                    "message": f"the request body is over {self.limit} bytes (serve.max_texts "
                    f"x serve.max_chars)",
                    "request_id": "-",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

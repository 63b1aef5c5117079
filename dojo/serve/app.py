"""``dojo serve``: the OpenAI-compatible HTTP layer over an :class:`~dojo.serve.engine.Engine`.

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions``
(plain, or streamed as server-sent events: ``data: {chunk}`` lines, then
``data: [DONE]``). The layer only validates, queues a job for the engine's worker
thread and turns its events into answers: the event loop never waits on the model,
and a stream sends each token as it is generated. Every error has OpenAI's shape
(``{"error": {"message", "type", "param", "code"}}``) and its status, and the
server serves on afterwards. Prompts never leave the machine: nothing here calls out.

:func:`run` checks the address against the key (:func:`~dojo.serve.security.check_address`),
loads the model and serves with uvicorn until stopped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from dojo.config import Settings
from dojo.serve.engine import Delta, Engine, Failed, Finished, Job, Started, load_engine
from dojo.serve.errors import APIError, internal_error, model_not_found
from dojo.serve.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    chat_logprob,
    completion_logprobs,
    logprob_records,
    usage,
)
from dojo.serve.security import Guard, check_address

log = logging.getLogger(__name__)


def create_app(engine: Engine, settings: Settings) -> FastAPI:
    """The ASGI app; it starts the engine's worker with its lifespan and stops it after."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine.start()
        try:
            yield
        finally:
            await asyncio.to_thread(engine.close)

    app = FastAPI(
        title="Dojo",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # FastAPI's own OpenTelemetry off, whatever the environment says
        # (FASTAPI_OTEL_AUTO_CONFIGURE=true would export requests, bodies in failures included)
        telemetry={
            "tracing": False,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
            "auto_configure": False,
        },
    )
    key = settings.serve.api_key
    app.add_middleware(
        Guard,
        api_key=None if key is None else key.get_secret_value(),
        max_body_bytes=settings.serve.max_body_bytes,
    )
    _add_error_handlers(app)

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:  # a plain def: FastAPI runs it off the event loop
        return {"object": "list", "data": engine.models()}

    @app.get("/v1/models/{model_id:path}")
    def get_model(model_id: str) -> dict[str, Any]:
        models = engine.models()
        for model in models:
            if model["id"] == model_id:
                return model
        raise model_not_found(model_id, [m["id"] for m in models])

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatCompletionRequest) -> JSONResponse | StreamingResponse:
        params = body.params()
        answer = _Answer(engine, body.model, "chatcmpl", body.include_usage)
        started = await answer.start(Job(body.model, body.prompt(), params, answer.emit))
        if body.stream:
            return _stream(answer.chat_chunks(started, logprobs=params.logprobs is not None))
        return JSONResponse(await answer.chat(started, logprobs=params.logprobs is not None))

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest) -> JSONResponse | StreamingResponse:
        params = body.params()
        answer = _Answer(engine, body.model, "cmpl", body.include_usage)
        job = Job(body.model, body.to_prompt(), params, answer.emit, prompt_param="prompt")
        started = await answer.start(job)
        if body.stream:
            return _stream(answer.text_chunks(started, logprobs=params.logprobs is not None))
        return JSONResponse(await answer.text(started, logprobs=params.logprobs is not None))

    return app


class _Answer:
    """One request's job on the engine and its events, turned into an answer or chunks."""

    def __init__(self, engine: Engine, model: str, prefix: str, include_usage: bool) -> None:
        self.engine = engine
        self.model = model
        self.id = f"{prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.include_usage = include_usage
        self.loop = asyncio.get_running_loop()
        self.events: asyncio.Queue[Started | Delta | Finished | Failed] = asyncio.Queue()
        self.job: Job | None = None

    def emit(self, event: Started | Delta | Finished | Failed) -> None:
        """Called on the worker thread: hands the event to the event loop."""
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.cancel()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancelled.set()

    async def start(self, job: Job) -> Started:
        """Queue ``job`` and wait for the engine to start it (or refuse it)."""
        self.job = job
        self.engine.submit(job)
        try:
            event = await self.events.get()
        except asyncio.CancelledError:
            self.cancel()
            raise
        if isinstance(event, Failed):
            raise event.error
        assert isinstance(event, Started), event
        return event

    async def collect(self) -> tuple[list[Delta], Finished]:
        deltas = []
        try:
            while True:
                event = await self.events.get()
                if isinstance(event, Delta):
                    deltas.append(event)
                elif isinstance(event, Finished):
                    return deltas, event
                elif isinstance(event, Failed):
                    raise event.error
        finally:
            self.cancel()

    def _envelope(self, started: Started, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": started.served,
        }

    async def chat(self, started: Started, *, logprobs: bool) -> dict[str, Any]:
        deltas, finished = await self.collect()
        return {
            **self._envelope(started, "chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(d.text for d in deltas)},
                    "logprobs": {"content": [chat_logprob(r) for r in logprob_records(deltas)]}
                    if logprobs
                    else None,
                    "finish_reason": finished.finish_reason,
                }
            ],
            "usage": usage(finished),
        }

    async def text(self, started: Started, *, logprobs: bool) -> dict[str, Any]:
        deltas, finished = await self.collect()
        return {
            **self._envelope(started, "text_completion"),
            "choices": [
                {
                    "index": 0,
                    "text": "".join(d.text for d in deltas),
                    "logprobs": completion_logprobs(logprob_records(deltas), 0)
                    if logprobs
                    else None,
                    "finish_reason": finished.finish_reason,
                }
            ],
            "usage": usage(finished),
        }

    async def chat_chunks(
        self, started: Started, *, logprobs: bool
    ) -> AsyncIterator[dict[str, Any]]:
        envelope = self._envelope(started, "chat.completion.chunk")

        def chunk(delta: dict[str, Any], **choice: Any) -> dict[str, Any]:
            choice.setdefault("logprobs", None)
            choice.setdefault("finish_reason", None)
            body = {**envelope, "choices": [{"index": 0, "delta": delta, **choice}]}
            if self.include_usage:
                body["usage"] = None
            return body

        yield chunk({"role": "assistant", "content": ""})
        async for event in self._stream_events():
            if isinstance(event, Delta):
                record = event.logprob if logprobs else None
                if event.text or record is not None:
                    yield chunk(
                        {"content": event.text},
                        logprobs=None if record is None else {"content": [chat_logprob(record)]},
                    )
            else:
                yield chunk({}, finish_reason=event.finish_reason)
                if self.include_usage:
                    yield {**envelope, "choices": [], "usage": usage(event)}

    async def text_chunks(
        self, started: Started, *, logprobs: bool
    ) -> AsyncIterator[dict[str, Any]]:
        envelope = self._envelope(started, "text_completion")
        offset = 0

        def chunk(text: str, **choice: Any) -> dict[str, Any]:
            choice.setdefault("logprobs", None)
            choice.setdefault("finish_reason", None)
            body = {**envelope, "choices": [{"index": 0, "text": text, **choice}]}
            if self.include_usage:
                body["usage"] = None
            return body

        async for event in self._stream_events():
            if isinstance(event, Delta):
                record = event.logprob if logprobs else None
                if event.text or record is not None:
                    yield chunk(
                        event.text,
                        logprobs=None if record is None else completion_logprobs([record], offset),
                    )
                    offset += 0 if record is None else len(record.token)
            else:
                yield chunk("", finish_reason=event.finish_reason)
                if self.include_usage:
                    yield {**envelope, "choices": [], "usage": usage(event)}

    async def _stream_events(self) -> AsyncIterator[Delta | Finished]:
        """The job's deltas, then its end; a failure mid-stream raises its APIError."""
        try:
            while True:
                event = await self.events.get()
                if isinstance(event, Failed):
                    raise event.error
                if isinstance(event, Delta | Finished):
                    yield event
                if isinstance(event, Finished):
                    return
        finally:
            self.cancel()  # the client left, or the answer is over: stop generating


def _stream(chunks: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    async def lines() -> AsyncIterator[str]:
        try:
            async for chunk in chunks:
                yield f"data: {_json(chunk)}\n\n"
        except APIError as error:  # the status is sent: the error goes in the stream
            yield f"data: {_json(error.body())}\n\n"
        except Exception:
            log.exception("a streamed answer failed")
            yield f"data: {_json(internal_error().body())}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(
        lines(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _add_error_handlers(app: FastAPI) -> None:
    def answer(error: APIError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return answer(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        first: dict[str, Any] = dict(problems[0]) if problems else {"msg": "invalid request"}
        if first.get("type") == "json_invalid":
            reason = (first.get("ctx") or {}).get("error", "")
            return answer(APIError(400, f"the body is not valid JSON: {reason}".rstrip(": ")))
        param = _param(first.get("loc", ()))
        message = f"{param}: {first['msg']}" if param else str(first["msg"])
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more problems)"
        return answer(APIError(400, message, param=param))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return answer(APIError(exc.status_code, str(exc.detail), code=code))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return answer(internal_error())


def _param(loc: Sequence[Any]) -> str | None:
    """The parameter a validation error's location names: field names and indices, up to
    the first of pydantic's union member tags (``stop.constrained-str`` is ``stop``)."""
    names = []
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        if isinstance(part, int) or (isinstance(part, str) and part.isidentifier()):
            names.append(str(part))
        else:
            break
    return ".".join(names) or None


class _Server(uvicorn.Server):
    """uvicorn's server, telling ``on_ready`` the address once it listens."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str], None] | None) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_ready is not None:
            self.on_ready(self.url())

    def url(self) -> str:
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"


def server(
    app: FastAPI, host: str, port: int, *, on_ready: Callable[[str], None] | None = None
) -> _Server:
    """A uvicorn server for ``app`` (``port`` 0: a free one; :meth:`_Server.url` tells it)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=True,
        # the client's headers are not trusted to rewrite its address or scheme
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    return _Server(config, on_ready)


def run(
    settings: Settings,
    *,
    model: str | None = None,
    adapter: str = "latest",
    on_ready: Callable[[str, Engine], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, on ``DOJO_SERVE_HOST``:``DOJO_SERVE_PORT``.

    Refuses (:class:`~dojo.serve.security.InsecureAddress`) a non-loopback address
    without an API key, before anything is loaded. ``on_ready(url, engine)`` once it
    listens.
    """
    key = settings.serve.api_key
    check_address(settings.serve.host, None if key is None else key.get_secret_value())
    _log_to_stderr()
    import torch

    torch.set_num_threads(settings.torch_threads)
    engine = load_engine(settings, model, adapter)
    app = create_app(engine, settings)

    def ready(url: str) -> None:
        if on_ready is not None:
            on_ready(url, engine)

    server(app, settings.serve.host, settings.serve.port, on_ready=ready).run()


def _log_to_stderr() -> None:
    logger = logging.getLogger("dojo.serve")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False

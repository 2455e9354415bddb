"""The ECS handler: the FastAPI application the Fargate task runs.

Image command: ``uvicorn query_service.ecs.app:app --host 0.0.0.0 --port 8000
--timeout-graceful-shutdown 25``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from query_service import __version__
from query_service.config import ConfigError, Settings, Tier, get_settings
from query_service.domain.errors import (
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    PROBLEM_CONTENT_TYPE,
    PROBLEMS,
    UPSTREAM_UNAVAILABLE,
    Problem,
)
from query_service.domain.queries import (
    MAX_BODY_BYTES,
    QUERY_MODELS,
    QUERY_ROUTES,
    REMOVED_ROUTES,
    Query,
    QueryRoute,
    body_too_large,
    check_request_size,
    parse_query_body,
    parse_query_params,
    removed,
)
from query_service.ecs.internal_client import InternalApiClient
from query_service.ecs.schemas import HealthResponse, ProblemResponse, QueryResponse
from query_service.ecs.signing import MissingCredentials, SigV4Signer
from query_service.logs import accept_request_id, configure_logging, request_id_var

TIER: Tier = "ecs_handler"
log = logging.getLogger("query_service.ecs")


def problem_response(problem: Problem) -> Response:
    body = orjson.dumps(problem.body(request_id_var.get()))
    return Response(body, problem.status, problem.headers, media_type=PROBLEM_CONTENT_TYPE)


class RequestContextMiddleware:
    """Request id in and out, and one access log line per request (pure ASGI: no copies)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        request_id = accept_request_id(given.decode("latin-1"))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        oversized: Problem | None = None
        try:
            check_request_size(
                len(scope.get("raw_path") or scope["path"]) + len(scope.get("query_string", b"")),
                sum(len(k) + len(v) + 4 for k, v in scope["headers"]),
            )
        except Problem as problem:
            oversized = problem

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            if oversized is not None:
                await problem_response(oversized)(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            state = scope.get("state", {})
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": scope["path"],
                    "status": status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    "upstream_ms": state.get("upstream_ms"),
                },
            )
            request_id_var.reset(token)


def _drain_on_sigterm(app: FastAPI) -> Callable[[], None]:
    """On SIGTERM, mark the app draining (readiness answers 503), then let uvicorn stop.

    uvicorn has installed its own handler by the time the lifespan starts: it stops
    accepting connections and waits for the requests in flight (up to
    --timeout-graceful-shutdown), then the lifespan closes the pool. This wraps it.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals belong to the main thread (tests run apps elsewhere)
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        app.state.draining = True
        log.info("SIGTERM: draining, finishing the requests in flight")
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


async def get_client(request: Request) -> InternalApiClient:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a hop
    per request that was among the heaviest entries of the handler's profile (make bench)."""
    client: InternalApiClient = request.app.state.internal_client
    return client


InternalClient = Annotated[InternalApiClient, Depends(get_client)]


async def read_body(request: Request) -> bytes:
    """The request body, refusing (413) past MAX_BODY_BYTES without reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise body_too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise body_too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def answer(
    route: QueryRoute, query: Query, client: InternalApiClient, request: Request
) -> Response:
    result = await client.query(query, request_id_var.get() or "")
    request.state.upstream_ms = round(result.upstream_ms, 2)
    count = len(result.records)
    body = {
        "success": True,
        "data": result.records,
        "total_count": count,
        "next_cursor": result.next_cursor,
        "message": f"Found {count} record{'s' if count != 1 else ''}"
        + (", more with next_cursor" if result.next_cursor else ""),
    }
    return Response(orjson.dumps(body), 200, route.deprecation_headers, "application/json")


_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    p.status: {"model": ProblemResponse, "description": p.title}
    for p in PROBLEMS
    if p.status in {400, 413, 414, 431, 502, 503, 504}
}


def _get_parameters(route: QueryRoute) -> list[dict[str, Any]]:
    schema = QUERY_MODELS[route.kind].model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def _add_query_route(app: FastAPI, route: QueryRoute) -> None:
    model = QUERY_MODELS[route.kind]
    summary = (model.__doc__ or "").strip()

    async def post_query(request: Request, client: InternalClient) -> Response:
        query = parse_query_body(route.kind, await read_body(request))
        return await answer(route, query, client, request)

    async def get_query(request: Request, client: InternalClient) -> Response:
        params: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            params.setdefault(key, []).append(value)
        return await answer(route, parse_query_params(route.kind, params), client, request)

    name = route.path.strip("/").replace("/", "_")
    request_body = {"content": {"application/json": {"schema": model.model_json_schema()}}}
    forms: tuple[tuple[str, Any, dict[str, Any]], ...] = (
        ("POST", post_query, {"requestBody": {"required": True, **request_body}}),
        ("GET", get_query, {"parameters": _get_parameters(route)}),
    )
    for method, endpoint, openapi_extra in forms:
        app.add_api_route(
            route.path,
            endpoint,
            methods=[method],
            name=f"{method.lower()}_{name}",
            summary=summary,
            response_model=QueryResponse,
            openapi_extra=openapi_extra,
            deprecated=route.successor is not None,
            responses=_PROBLEM_RESPONSES,
        )


def _add_removed_route(app: FastAPI, path: str) -> None:
    async def removed_query() -> Response:
        raise removed(path)

    for method in ("GET", "POST"):
        app.add_api_route(
            path,
            removed_query,
            methods=[method],
            deprecated=True,
            status_code=410,  # what the OpenAPI names as its answer (it never answers 200)
            summary="Removed: answers 410 Gone",
            responses={410: {"model": ProblemResponse, "description": "the query was removed"}},
            name=f"removed_{method.lower()}_{path.strip('/').replace('/', '_')}",
        )


def _document_problems_as_problem_json(app: FastAPI) -> None:
    """Error responses are served as application/problem+json; say so in the OpenAPI.

    FastAPI files every response model under ``application/json``; a client generated from
    the document (or a fuzzer checking answers against it) must see the type we send.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for operation in (op for path in document["paths"].values() for op in path.values()):
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[0] in "45" and "application/json" in content:
                        content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(TIER, settings.log_level, settings.service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            settings.check_production(TIER)
        except ConfigError as exc:
            log.critical("refusing to start: %s", exc)
            raise
        signer = None
        if settings.internal_api_auth == "iam":
            try:
                signer = SigV4Signer(settings.aws_default_region)
            except MissingCredentials as exc:
                log.critical("refusing to start: %s", exc)
                raise
        client = InternalApiClient(
            settings.internal_api_url, settings.timeout_for(TIER), signer=signer
        )
        await client.start()
        app.state.internal_client = client
        log.info(
            "ECS handler started",
            extra={"internal_api_url": settings.internal_api_url, "version": __version__},
        )
        app.state.draining = False
        restore = _drain_on_sigterm(app)
        try:
            yield
        finally:
            restore()
            await client.close()
            log.info("ECS handler stopped: pool closed")

    app = FastAPIOffline(
        title="query-service",
        version=__version__,
        description="Push-notification record queries (ECS handler).",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(RequestContextMiddleware)

    @app.exception_handler(Problem)
    async def on_problem(_: Request, problem: Problem) -> Response:
        return problem_response(problem)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return problem_response(
                Problem(
                    METHOD_NOT_ALLOWED,
                    "This path accepts GET and POST only.",
                    headers=dict(exc.headers or {}),
                )
            )
        if exc.status_code == 404:
            return problem_response(Problem(NOT_FOUND, "There is no such path."))
        return problem_response(Problem(INTERNAL_ERROR, "The request could not be served."))

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem_response(Problem(INTERNAL_ERROR, "The request could not be served."))

    @app.get("/health", response_model=HealthResponse, tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the process serves requests (the load balancer's check)."""
        return {"status": "healthy", "service": settings.service_name, "version": __version__}

    @app.get("/health/ready", tags=["health"], responses={503: {"model": ProblemResponse}})
    async def ready(request: Request, client: InternalClient) -> Response:
        """Readiness: not draining, and the internal API answers."""
        if getattr(request.app.state, "draining", False):
            return problem_response(Problem(UPSTREAM_UNAVAILABLE, "This task is shutting down."))
        if await client.ready():
            return Response(orjson.dumps({"status": "ready"}), media_type="application/json")
        return problem_response(
            Problem(UPSTREAM_UNAVAILABLE, "The record service is not answering.")
        )

    for route in QUERY_ROUTES.values():
        _add_query_route(app, route)
    for path in REMOVED_ROUTES:
        _add_removed_route(app, path)
    _document_problems_as_problem_json(app)
    return app


app = create_app()

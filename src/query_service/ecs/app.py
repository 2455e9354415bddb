"""The ECS handler: the FastAPI application the Fargate task runs.

Image command: ``uvicorn query_service.ecs.app:app --host 0.0.0.0 --port 8000
--timeout-graceful-shutdown 25``.

This module composes the application; each part has its own module: the request context
(``middleware``), the query paths served as plain ASGI (``query_path``), problem answers
(``problems``), SIGTERM draining (``draining``), what the OpenAPI document adds to the
routes (``openapi``) and the route factory (``routes``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline

from query_service import __version__
from query_service.config import ConfigError, Settings, Tier, get_settings
from query_service.domain.errors import UPSTREAM_UNAVAILABLE, Problem
from query_service.domain.routes import QUERY_ROUTES, REMOVED_ROUTES
from query_service.ecs import console
from query_service.ecs.draining import drain_on_sigterm
from query_service.ecs.internal_client import InternalApiClient
from query_service.ecs.middleware import RequestContextMiddleware
from query_service.ecs.openapi import complete_document
from query_service.ecs.problems import add_problem_handlers, problem_response
from query_service.ecs.query_path import QueryEndpoint, QueryPaths
from query_service.ecs.routes import InternalClient, add_query_route, add_removed_route
from query_service.ecs.schemas import HealthResponse, ProblemResponse
from query_service.ecs.signing import MissingCredentials, SigV4Signer
from query_service.logs import configure_logging

TIER: Tier = "ecs_handler"
log = logging.getLogger("query_service.ecs")


def _internal_client(settings: Settings) -> InternalApiClient:
    """The pooled client of the internal API; refuses to start without what it needs."""
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
    return InternalApiClient(settings.internal_api_url, settings.timeout_for(TIER), signer=signer)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(TIER, settings.log_level, settings.service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = _internal_client(settings)
        await client.start()
        app.state.internal_client = client
        log.info(
            "ECS handler started",
            extra={"internal_api_url": settings.internal_api_url, "version": __version__},
        )
        app.state.draining = False
        restore = drain_on_sigterm(app.state)
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
        # No OpenTelemetry here (metrics are EMF, logs JSON on stdout): FastAPI's own would
        # look up the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    endpoints = {path: QueryEndpoint(route, app.state) for path, route in QUERY_ROUTES.items()}
    add_problem_handlers(app)

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

    for path, endpoint in endpoints.items():
        add_query_route(app, QUERY_ROUTES[path], endpoint)
    for path in REMOVED_ROUTES:
        add_removed_route(app, path)
    complete_document(app)
    console.mount(app, settings)
    # Built once, here, after every route and exception handler: the query paths served by
    # their QueryEndpoint (each with its own request context) ahead of FastAPI's own stack
    # (error middleware, exception handlers, the router) inside the request context, which
    # serves everything else.
    app.middleware_stack = QueryPaths(
        RequestContextMiddleware(app.build_middleware_stack()), endpoints
    )
    return app


app = create_app()

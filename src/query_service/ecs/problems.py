"""Every error the ECS handler answers, as application/problem+json (RFC 9457)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from query_service.domain.errors import (
    INTERNAL_ERROR,
    PROBLEM_CONTENT_TYPE,
    Problem,
    method_not_allowed,
    no_such_path,
)
from query_service.logs import request_id_var

log = logging.getLogger("query_service.ecs")


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> Response:
    """``problem`` as problem+json, with the context's request id; ``headers`` besides its own."""
    body = orjson.dumps(problem.body(request_id_var.get()))
    headers = {**problem.headers, **headers} if headers else problem.headers
    return Response(body, problem.status, headers, media_type=PROBLEM_CONTENT_TYPE)


def unexpected_error(headers: Mapping[str, str] | None = None) -> Response:
    """The answer to an error nobody expected: logged with its traceback, never shown."""
    log.exception("unhandled error")
    return problem_response(Problem(INTERNAL_ERROR, "The request could not be served."), headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method the request's path is served with (RFC 9110's Allow): Starlette's own
    405 names only the first route that matched the path, and each query path is two
    routes (GET, POST)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def add_problem_handlers(app: FastAPI) -> None:
    """A Problem raised anywhere, Starlette's own 404/405, and anything unexpected, each
    answered as a problem with the request id (never a traceback or an HTML page)."""

    @app.exception_handler(Problem)
    async def on_problem(_: Request, problem: Problem) -> Response:
        return problem_response(problem)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return problem_response(method_not_allowed(allowed_methods(request)))
        if exc.status_code == 404:
            return problem_response(no_such_path())
        return problem_response(Problem(INTERNAL_ERROR, "The request could not be served."))

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> Response:
        return unexpected_error()

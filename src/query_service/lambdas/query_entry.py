"""Query Lambda: the public API Gateway's backend (REST proxy integration, payload 1.0).

It validates at the edge with the domain's rules (a bad request never costs an ECS call),
forwards the normalised query to the ECS handler through ``EcsHandlerClient``, and relays
the handler's answer, or the problem its failure means.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Any

import orjson
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from query_service.config import Tier
from query_service.domain.errors import Problem, method_not_allowed, no_such_path
from query_service.domain.queries import check_request_size, parse_query_body, parse_query_params
from query_service.domain.routes import (
    QUERY_METHODS,
    QUERY_ROUTES,
    REMOVED_ROUTES,
    QueryRoute,
    removed,
)
from query_service.lambdas.ecs_handler_client import EcsHandlerClient
from query_service.lambdas.resolver import Answer, Resolver, problem_answer, request_body
from query_service.logs import request_id_var

TIER: Tier = "query_entry"
# Every method each path serves: the Allow header of a 405. A removed query keeps its
# methods (each answered 410), as at the ECS handler.
ALLOWED: dict[str, tuple[str, ...]] = {"/health": ("GET",)} | {
    path: QUERY_METHODS for path in (*QUERY_ROUTES, *REMOVED_ROUTES)
}

app = Resolver(TIER, "query-entry")
log = app.log


@cache
def _ecs() -> EcsHandlerClient:
    settings = app.settings()
    if not settings.ecs_handler_url and settings.eks_handler_url:
        log.warning("EKS_HANDLER_URL is deprecated: set ECS_HANDLER_URL instead")
    return EcsHandlerClient(settings.ecs_url(), settings.timeout_for(TIER))


def _forward(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Answer:
    """The ECS handler's answer, with the time it took (retries included) on the log line."""
    started = time.perf_counter()
    try:
        proxy = _ecs().call(method, path, body, request_id_var.get() or "", app.remaining())
    except Problem as problem:
        return problem_answer(problem, upstream_ms=_ms_since(started))
    return Answer(
        proxy["statusCode"],
        proxy["body"],
        proxy["headers"] | headers,
        content_type=proxy["headers"]["Content-Type"],
        logged={"upstream_ms": _ms_since(started)},
    )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _refuse_oversized(
    resolver: Resolver, next_middleware: Callable[[Resolver], Response[str]]
) -> Response[str]:
    """A URL or header block larger than a query needs is refused before any routing."""
    event = resolver.current_event
    params = event.multi_value_query_string_parameters or {}
    url = len(event.path or "/") + sum(
        len(k) + len(v) + 2 for k, values in params.items() for v in values
    )
    headers = event.multi_value_headers or {k: [v] for k, v in event.headers.items()}
    size = sum(len(k) + len(v) + 4 for k, values in headers.items() for v in values or [])
    check_request_size(url, size)
    return next_middleware(resolver)


app.use([_refuse_oversized])


def _query_route(route: QueryRoute) -> Callable[[], Answer]:
    def query() -> Answer:
        event = app.current_event
        if event.http_method == "POST":
            query = parse_query_body(route.kind, request_body(event))
        else:
            query = parse_query_params(route.kind, event.multi_value_query_string_parameters or {})
        body = orjson.dumps(query.normalised())
        return _forward("POST", f"/query/{query.kind.value}", body, route.deprecation_headers)

    return query


for _route in QUERY_ROUTES.values():
    app.route(_route.path, method=list(QUERY_METHODS))(_query_route(_route))


@app.get("/health")
def health() -> Answer:
    return _forward("GET", "/health", None, {})


@app.not_found
def not_found(_: Exception) -> Answer:
    """No route for this method and path: 405 naming every method of a path that has
    others, 410 for a removed query's own methods, else 404."""
    event = app.current_event
    path = event.path
    if path in ALLOWED and event.http_method not in ALLOWED[path]:
        raise method_not_allowed(ALLOWED[path])
    if path in REMOVED_ROUTES:
        raise removed(path)
    raise no_such_path()


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

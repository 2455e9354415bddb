"""Query Lambda: the public API Gateway's backend (REST proxy integration, payload 1.0).

It validates at the edge with the domain's rules (a bad request never costs an ECS call),
forwards the normalised query to the ECS handler over one pooled connection set that
warm invocations reuse, and maps the handler's failures to problem+json.
"""

from __future__ import annotations

import base64
import contextvars
import logging
import time
from functools import cache
from typing import Any

import orjson

from query_service.config import Tier, get_settings
from query_service.domain.errors import (
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    PROBLEM_CONTENT_TYPE,
    Problem,
)
from query_service.domain.queries import (
    MAX_BODY_BYTES,
    QUERY_METHODS,
    QUERY_ROUTES,
    REMOVED_ROUTES,
    body_too_large,
    check_request_size,
    parse_query_body,
    parse_query_params,
    removed,
    route_label,
)
from query_service.lambdas.ecs_handler_client import EcsHandlerClient
from query_service.logs import accept_request_id, configure_logging, request_id_var
from query_service.metrics import publish, status_counts

TIER: Tier = "query_entry"

# Time spent calling the ECS handler in this invocation (None: no call was made).
upstream_ms: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "upstream_ms", default=None
)

configure_logging(TIER, get_settings().log_level)
log = logging.getLogger(__name__)


@cache
def _ecs() -> EcsHandlerClient:
    settings = get_settings()
    settings.check_production(TIER)
    if not settings.ecs_handler_url and settings.eks_handler_url:
        log.warning("EKS_HANDLER_URL is deprecated: set ECS_HANDLER_URL instead")
    return EcsHandlerClient(settings.ecs_url(), settings.timeout_for(TIER))


def _forward(method: str, path: str, body: bytes | None, request_id: str) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        return _ecs().call(method, path, body, request_id)
    finally:
        upstream_ms.set(round((time.perf_counter() - started) * 1000, 2))


def _body_bytes(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            return b"\xff"  # undecodable: parsing it fails as malformed JSON
    return body.encode() if isinstance(body, str) else b""


def _sizes(event: dict[str, Any]) -> tuple[int, int]:
    """URL characters and header bytes of the request behind ``event``."""
    params = event.get("multiValueQueryStringParameters") or {}
    url = len(event.get("path") or "/") + sum(
        len(k) + len(v) + 2 for k, values in params.items() for v in values
    )
    headers = event.get("multiValueHeaders") or {
        k: [v] for k, v in (event.get("headers") or {}).items()
    }
    size = sum(len(k) + len(v) + 4 for k, values in headers.items() for v in values or [])
    return url, size


def _route(event: dict[str, Any], request_id: str) -> dict[str, Any]:
    path = event.get("path") or "/"
    method = (event.get("httpMethod") or "GET").upper()
    check_request_size(*_sizes(event))
    if path in REMOVED_ROUTES:
        raise removed(path)
    if path == "/health":
        if method != "GET":
            raise Problem(METHOD_NOT_ALLOWED, "/health accepts GET only.", headers={"Allow": "GET"})
        return _forward("GET", "/health", None, request_id)
    route = QUERY_ROUTES.get(path)
    if route is None:
        raise Problem(NOT_FOUND, "There is no such path.")
    if method not in QUERY_METHODS:
        raise Problem(
            METHOD_NOT_ALLOWED,
            "This path accepts GET and POST only.",
            headers={"Allow": ", ".join(QUERY_METHODS)},
        )
    if method == "POST":
        raw = _body_bytes(event)
        if len(raw) > MAX_BODY_BYTES:
            raise body_too_large()
        query = parse_query_body(route.kind, raw)
    else:
        params = event.get("multiValueQueryStringParameters") or {}
        query = parse_query_params(route.kind, params)
    response = _forward(
        "POST", f"/query/{query.kind.value}", orjson.dumps(query.normalised()), request_id
    )
    response["headers"].update(route.deprecation_headers)
    return response


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    headers = event.get("headers") or {}
    given = next((v for k, v in headers.items() if k.lower() == "x-request-id"), None)
    fallback = (event.get("requestContext") or {}).get("requestId")
    request_id = accept_request_id(given or fallback)
    token = request_id_var.set(request_id)
    upstream_token = upstream_ms.set(None)
    started = time.perf_counter()
    try:
        try:
            response = _route(event, request_id)
        except Problem as problem:
            response = {
                "statusCode": problem.status,
                "headers": {"Content-Type": PROBLEM_CONTENT_TYPE, **problem.headers},
                "body": orjson.dumps(problem.body(request_id)).decode(),
            }
        response["headers"]["X-Request-ID"] = request_id
        response["isBase64Encoded"] = False
        latency_ms = (time.perf_counter() - started) * 1000
        status = response["statusCode"]
        log.info(
            "request",
            extra={
                "method": event.get("httpMethod"),
                "route": event.get("path"),
                "status": status,
                "latency_ms": round(latency_ms, 2),
                "upstream_ms": upstream_ms.get(),
            },
        )
        publish(
            "query-entry",
            route_label(event.get("path") or "/"),
            latency_ms=latency_ms,
            counts=status_counts(status),
            request_id=request_id,
        )
        return response
    finally:
        upstream_ms.reset(upstream_token)
        request_id_var.reset(token)

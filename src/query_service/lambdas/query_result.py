"""Query Result Lambda: the internal API's backend (ARCHITECTURE §4).

``POST /query/user|fail|tx`` with the normalised query as JSON →
``200 {"items": [Record…], "next_cursor": …}``, or problem+json.
"""

from __future__ import annotations

import contextvars
import logging
import time
from functools import cache
from typing import Any

import orjson
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from query_service import __version__
from query_service.config import Tier, get_settings
from query_service.domain.cursor import CursorCodec
from query_service.domain.errors import (
    INTERNAL_ERROR,
    NOT_FOUND,
    PROBLEM_CONTENT_TYPE,
    UPSTREAM_UNAVAILABLE,
    FieldError,
    Problem,
    invalid,
)
from query_service.domain.queries import QueryKind, parse_query_body, route_label
from query_service.lambdas.cursor_secret import read_cursor_secret
from query_service.logs import accept_request_id, configure_logging, request_id_var
from query_service.metrics import publish, status_counts
from query_service.storage.dynamo import dynamodb_client
from query_service.storage.repository import ReadRepository, StartKeyMismatch, StoredRecordError

TIER: Tier = "query_result"
THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)

configure_logging(TIER, get_settings().log_level)
log = logging.getLogger(__name__)
app = APIGatewayRestResolver()
# What the route handler found, for the invocation's metrics (read after resolve).
_items_returned: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "items_returned", default=None
)


@cache
def _repository() -> ReadRepository:
    settings = get_settings()
    settings.check_production(TIER)
    # One retry in botocore: the ECS handler and the Query Lambda have deadlines of their own.
    return ReadRepository(
        dynamodb_client(settings, max_attempts=2), settings.notification_table_name
    )


@cache
def _codec() -> CursorCodec:
    settings = get_settings()
    return CursorCodec(settings.cursor_keys(read_cursor_secret(settings)))


def _json(
    status: int, body: dict[str, Any], content_type: str = "application/json"
) -> Response[str]:
    headers = {"X-Request-ID": request_id_var.get() or ""}
    return Response(status, content_type, orjson.dumps(body).decode(), headers)


def _problem(problem: Problem) -> Response[str]:
    response = _json(problem.status, problem.body(request_id_var.get()), PROBLEM_CONTENT_TYPE)
    response.headers.update(problem.headers)
    return response


@app.post("/query/<kind>")
def run_query(kind: str) -> Response[str]:
    try:
        query_kind = QueryKind(kind)
    except ValueError:
        raise Problem(NOT_FOUND, f"There is no '{kind}' query.") from None
    query = parse_query_body(query_kind, app.current_event.body)
    start = _codec().decode(query.scope(), query.cursor) if query.cursor else None
    try:
        page = _repository().page(query, start)
    except StartKeyMismatch:
        raise invalid([FieldError("cursor", "does not belong to this query")]) from None
    next_cursor = _codec().encode(query.scope(), page.last_key) if page.last_key else None
    _items_returned.set(len(page.records))
    log.info(
        "query served",
        extra={"route": f"/query/{kind}", "items": len(page.records), "reads": page.reads},
    )
    return _json(200, {"items": [r.to_dict() for r in page.records], "next_cursor": next_cursor})


@app.get("/health")
def health() -> Response[str]:
    return _json(200, {"status": "healthy", "service": "query-result", "version": __version__})


@app.exception_handler(Problem)
def on_problem(problem: Problem) -> Response[str]:
    if problem.status >= 500:
        log.error("request failed", extra={"status": problem.status, "detail": problem.detail})
    return _problem(problem)


@app.exception_handler(ClientError)
def on_dynamodb_error(error: ClientError) -> Response[str]:
    code = error.response.get("Error", {}).get("Code", "")
    if code in THROTTLING_CODES:
        log.warning("DynamoDB throttled the query", extra={"error_code": code})
        return _problem(
            Problem(
                UPSTREAM_UNAVAILABLE,
                "The record store is busy; retry shortly.",
                headers={"Retry-After": "1"},
            )
        )
    log.error("DynamoDB query failed", extra={"error_code": code}, exc_info=error)
    return _problem(Problem(INTERNAL_ERROR, "The record store could not answer."))


@app.exception_handler(BotoCoreError)
def on_connection_error(error: BotoCoreError) -> Response[str]:
    log.error("DynamoDB unreachable", exc_info=error)
    return _problem(Problem(UPSTREAM_UNAVAILABLE, "The record store could not be reached."))


@app.exception_handler(StoredRecordError)
def on_stored_record_error(error: StoredRecordError) -> Response[str]:
    return _problem(Problem(INTERNAL_ERROR, "A stored record could not be read."))


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return _problem(Problem(NOT_FOUND, "No such path on the internal API."))


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    headers = event.get("headers") or {}
    given = next((v for k, v in headers.items() if k.lower() == "x-request-id"), None)
    request_id = accept_request_id(given)
    token = request_id_var.set(request_id)
    items_token = _items_returned.set(None)
    started = time.perf_counter()
    try:
        response = app.resolve(event, context)
        counts = status_counts(int(response.get("statusCode", 500)))
        items = _items_returned.get()
        if items is not None:
            counts["ItemsReturned"] = items
        publish(
            "query-result",
            route_label(event.get("path") or "/"),
            latency_ms=(time.perf_counter() - started) * 1000,
            counts=counts,
            request_id=request_id,
        )
        return response
    finally:
        _items_returned.reset(items_token)
        request_id_var.reset(token)

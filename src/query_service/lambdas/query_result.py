"""Query Result Lambda: the internal API's backend (ARCHITECTURE §4).

``POST /query/user|fail|tx`` with the normalised query as JSON →
``200 {"items": [Record…], "next_cursor": …}``; ``POST /query/delivery`` → the same with
the one delivery and its timeline, or no item; ``POST /query/stats`` →
``200 {"stats": {…}}`` (ARCHITECTURE §3's funnel or daily series); or problem+json.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from query_service import __version__
from query_service.config import Tier
from query_service.deadlines import deadline_passed
from query_service.domain.cursor import CursorCodec
from query_service.domain.errors import (
    INTERNAL_ERROR,
    NOT_FOUND,
    UPSTREAM_UNAVAILABLE,
    FieldError,
    Problem,
    invalid,
)
from query_service.domain.queries import DeliveryQuery, QueryKind, StatsQuery, parse_query_body
from query_service.lambdas.cursor_secret import read_cursor_secret
from query_service.lambdas.resolver import Answer, Resolver, request_body
from query_service.lambdas.snapstart import make_before_snapshot
from query_service.storage.dynamo import dynamodb_client
from query_service.storage.repository import ReadRepository, StartKeyMismatch, StoredRecordError
from query_service.storage.statistics import StatsRepository

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TIER: Tier = "query_result"
THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)

app = Resolver(TIER, "query-result")
log = app.log


@cache
def _client() -> DynamoDBClient:
    """One DynamoDB client (and connection pool) for both read models. One retry in
    botocore: the ECS handler and the Query Lambda have deadlines of their own. Requests
    are not checked against the service model before sending (DynamoDB checks them, and a
    query reaches here parsed and normalised): that walk was ~5 % of the handler's CPU."""
    return dynamodb_client(app.settings(), max_attempts=2, validate=False)


@cache
def _repository() -> ReadRepository:
    return ReadRepository(_client(), app.settings().notification_table_name)


@cache
def _stats() -> StatsRepository:
    return StatsRepository(_client(), app.settings().stats_table_name)


# Under SnapStart the client and the repositories over it are made before the snapshot,
# not at the first query (snapstart.py); the cursor keys are not.
make_before_snapshot(_repository, _stats)


@cache
def _codec() -> CursorCodec:
    settings = app.settings()
    return CursorCodec(settings.cursor_keys(read_cursor_secret(settings)))


@app.post("/query/<kind>")
def run_query(kind: str) -> Answer:
    try:
        query_kind = QueryKind(kind)
    except ValueError:
        raise Problem(NOT_FOUND, f"There is no '{kind}' query.") from None
    query = parse_query_body(query_kind, request_body(app.current_event))
    if app.remaining() <= 0:  # the ECS handler has given up on this call: spare DynamoDB
        raise deadline_passed("record store")
    if isinstance(query, StatsQuery):
        return _statistics(query)
    if isinstance(query, DeliveryQuery):
        return _delivery(query)
    start = _codec().decode(query.scope(), query.cursor) if query.cursor else None
    try:
        page = _repository().page(query, start)
    except StartKeyMismatch:
        raise invalid([FieldError("cursor", "does not belong to this query")]) from None
    except (ClientError, BotoCoreError) as error:
        raise _dynamodb_problem(error) from None
    except StoredRecordError:
        raise Problem(INTERNAL_ERROR, "A stored record could not be read.") from None
    next_cursor = _codec().encode(query.scope(), page.last_key) if page.last_key else None
    return Answer(
        200,
        {"items": [r.to_dict() for r in page.records], "next_cursor": next_cursor},
        metrics={"ItemsReturned": len(page.records)},
        logged={"items": len(page.records), "reads": page.reads},
    )


def _delivery(query: DeliveryQuery) -> Answer:
    """The one delivery with its timeline, or no item (the ECS handler answers the 404)."""
    try:
        found = _repository().delivery(query)
    except (ClientError, BotoCoreError) as error:
        raise _dynamodb_problem(error) from None
    except StoredRecordError:
        raise Problem(INTERNAL_ERROR, "A stored record could not be read.") from None
    items = [] if found is None else [found.to_dict()]
    return Answer(
        200,
        {"items": items, "next_cursor": None},
        metrics={"ItemsReturned": len(items)},
        logged={"items": len(items)},
    )


def _statistics(query: StatsQuery) -> Answer:
    try:
        if query.transaction_id is not None:
            stats = _stats().transaction(query.transaction_id)
        else:
            stats = _stats().application(query.ap_id or "", query.normalised()["days"])
    except (ClientError, BotoCoreError) as error:
        raise _dynamodb_problem(error) from None
    return Answer(200, {"stats": stats})


@app.get("/health")
def health() -> Answer:
    return Answer(200, {"status": "healthy", "service": "query-result", "version": __version__})


def _dynamodb_problem(error: ClientError | BotoCoreError) -> Problem:
    """One mapping of DynamoDB failures for every query: busy, unreachable, or failed."""
    if isinstance(error, BotoCoreError):
        log.error("DynamoDB unreachable", exc_info=error)
        return Problem(UPSTREAM_UNAVAILABLE, "The record store could not be reached.")
    code = error.response.get("Error", {}).get("Code", "")
    if code in THROTTLING_CODES:
        log.warning("DynamoDB throttled the query", extra={"error_code": code})
        return Problem(
            UPSTREAM_UNAVAILABLE,
            "The record store is busy; retry shortly.",
            headers={"Retry-After": "1"},
        )
    log.error("DynamoDB query failed", extra={"error_code": code}, exc_info=error)
    return Problem(INTERNAL_ERROR, "The record store could not answer.")


@app.not_found
def not_found(_: Exception) -> Answer:
    raise Problem(NOT_FOUND, "No such path on the internal API.")


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

"""The ECS handler's one way to reach the internal API (ARCHITECTURE §4).

One pooled aiohttp session per process. The choice of client stays in this module: on
this machine a pooled ``httpx.AsyncClient`` forwarded several times fewer requests per
second under concurrency (encode/httpx#3215), and the benchmark suite keeps measuring it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from query_service.domain.errors import (
    INVALID_REQUEST,
    UPSTREAM_FAILED,
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNAVAILABLE,
    FieldError,
    Problem,
    is_problem_body,
)
from query_service.domain.queries import Query
from query_service.domain.records import MalformedRecord, Record

log = logging.getLogger(__name__)

# Internal statuses whose problem body is meant for the caller: bad input (e.g. a cursor
# for another query) and "busy, retry" from DynamoDB throttling.
RELAYED_STATUSES = frozenset({400, 503})


@dataclass(frozen=True, slots=True)
class QueryResult:
    records: list[dict[str, Any]]
    next_cursor: str | None
    upstream_ms: float


def _relayed(status: int, body: dict[str, Any], retry_after: str | None) -> Problem:
    """The internal API's own problem, re-issued under this tier's request id."""
    errors = [
        FieldError(str(e.get("field")), str(e.get("message")))
        for e in body.get("errors", [])
        if isinstance(e, dict)
    ]
    kind = UPSTREAM_UNAVAILABLE if status == 503 else INVALID_REQUEST
    headers = {"Retry-After": retry_after} if retry_after else {}
    return Problem(kind, str(body["detail"]), errors, headers)


def _parse_result(raw: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """The internal API's success body, checked record by record; ValueError if garbage."""
    data = orjson.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ValueError("success body without an items list")
    cursor = data.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ValueError("next_cursor is not a string")
    try:
        records = [Record.from_mapping(item).to_dict() for item in data["items"]]
    except (MalformedRecord, AttributeError, TypeError) as exc:
        raise ValueError(f"record malformed: {exc}") from exc
    return records, cursor


class InternalApiClient:
    def __init__(self, base_url: str, timeout: float, *, pool_size: int = 100) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(3.0, self.timeout)),
            json_serialize=lambda obj: orjson.dumps(obj).decode(),
            raise_for_status=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("InternalApiClient used before start()")
        return self._session

    async def query(self, query: Query, request_id: str) -> QueryResult:
        """Run ``query`` upstream; every failure becomes a Problem fit for the caller."""
        url = f"{self.base_url}/query/{query.kind.value}"
        started = time.perf_counter()
        try:
            async with self.session.post(
                url,
                data=orjson.dumps(query.normalised()),
                headers={"Content-Type": "application/json", "X-Request-ID": request_id},
            ) as response:
                raw = await response.read()
                status = response.status
                content_type = response.content_type
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            log.warning("internal API timed out", extra={"timeout_s": self.timeout})
            raise Problem(UPSTREAM_TIMEOUT, "The record service did not answer in time.") from None
        except aiohttp.ClientConnectorError:
            log.warning("internal API unreachable", extra={"upstream": "internal_api"})
            raise Problem(UPSTREAM_UNAVAILABLE, "The record service is unreachable.") from None
        except aiohttp.ClientError as exc:
            log.warning("internal API connection failed", extra={"error": type(exc).__name__})
            raise Problem(UPSTREAM_FAILED, "The record service failed to answer.") from None
        upstream_ms = (time.perf_counter() - started) * 1000
        if status == 200:
            try:
                records, cursor = _parse_result(raw)
            except ValueError as exc:
                log.error("internal API answered garbage", extra={"reason": str(exc)[:200]})
                raise Problem(UPSTREAM_FAILED, "The record service answered garbage.") from None
            return QueryResult(records, cursor, upstream_ms)
        if status in RELAYED_STATUSES and "json" in content_type:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = None
            if is_problem_body(body) and body["status"] == status:
                raise _relayed(status, body, retry_after)
        log.error("internal API failed", extra={"upstream_status": status})
        raise Problem(UPSTREAM_FAILED, "The record service failed to answer.")

    async def ready(self) -> bool:
        """Whether the internal API answers its health check right now."""
        try:
            async with self.session.get(
                f"{self.base_url}/health", timeout=aiohttp.ClientTimeout(total=2.0)
            ) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

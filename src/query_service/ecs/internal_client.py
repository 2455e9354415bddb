"""The ECS handler's one way to reach the internal API (ARCHITECTURE §4).

One pooled aiohttp session per process. The choice of client stays in this module: on
this machine a pooled ``httpx.AsyncClient`` forwarded several times fewer requests per
second under concurrency (encode/httpx#3215), and the benchmark suite keeps measuring it.
This module keeps only the I/O: deadline, retries, circuit breaking and what each failure
means follow ``query_service.upstream``, as in the Query Lambda's client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from query_service.deadlines import DEADLINE_HEADER, deadline_header
from query_service.domain.errors import (
    INVALID_REQUEST,
    UPSTREAM_UNAVAILABLE,
    FieldError,
    Problem,
)
from query_service.domain.queries import Query, QueryKind
from query_service.domain.statistics import checked_stats
from query_service.ecs.page import Records, check_page
from query_service.ecs.signing import SigV4Signer
from query_service.resilience import Outcome, outcome_of_status
from query_service.upstream import Attempted, ErrorTable, Failure, UpstreamClient, json_body

log = logging.getLogger(__name__)

# Internal statuses whose problem body is meant for the caller: bad input (e.g. a cursor
# for another query) and "busy, retry" from DynamoDB throttling.
RELAYED_STATUSES = frozenset({400, 503})
AIOHTTP_ERRORS: ErrorTable = (
    (aiohttp.ConnectionTimeoutError, Failure.CONNECT_TIMED_OUT),  # also a TimeoutError: first
    (TimeoutError, Failure.TIMED_OUT),
    (aiohttp.ClientConnectorError, Failure.UNREACHABLE),
    (aiohttp.ClientError, Failure.BROKEN),
)
# Records and cursor, or (for /query/stats) no records and the statistics.
Page = tuple[Records, str | None, dict[str, Any] | None]
NO_RECORDS = Records.of([])


@dataclass(frozen=True, slots=True)
class QueryResult:
    page: Records
    next_cursor: str | None
    upstream_ms: float
    stats: dict[str, Any] | None = None  # /query/stats answers these instead of records

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.page.items


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


def _parse_result(raw: bytes, kind: QueryKind) -> Page:
    """The internal API's success body for a ``kind`` query: the statistics, field by
    field, for /query/stats; else a page of records (with their timelines, for
    /query/delivery), every record checked (``ecs.page``). ValueError if it is not that."""
    if kind is QueryKind.STATS:
        data = orjson.loads(raw)
        if not isinstance(data, dict) or "stats" not in data:
            raise ValueError("not a statistics answer")
        return NO_RECORDS, None, checked_stats(data["stats"])
    records, cursor = check_page(raw, timeline=kind is QueryKind.DELIVERY)
    return records, cursor, None


class InternalApiClient(UpstreamClient):
    """Calls the internal API within one deadline, with safe retries and a circuit breaker."""

    name, service, errors, log = "internal API", "record service", AIOHTTP_ERRORS, log

    def __init__(
        self,
        base_url: str,
        timeout: float,
        *,
        pool_size: int = 100,
        signer: SigV4Signer | None = None,
        **resilience: Any,
    ) -> None:
        super().__init__(base_url, timeout, **resilience)
        self.signer = signer
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
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

    async def query(
        self, query: Query, request_id: str, within: float | None = None
    ) -> QueryResult:
        """Run ``query`` upstream, within ``within`` seconds if the caller waits less than
        REQUEST_TIMEOUT; every failure becomes a Problem fit for the caller."""
        url = f"{self.base_url}/query/{query.kind.value}"
        body = orjson.dumps(query.normalised())
        started = time.perf_counter()
        call = self.start_call(within)
        for total, connect in call.attempts():
            attempted = await self._attempt(url, body, request_id, total, connect, query.kind)
            if wait := call.settle(*attempted):
                await asyncio.sleep(wait)
        records, cursor, stats = call.result()
        return QueryResult(records, cursor, (time.perf_counter() - started) * 1000, stats)

    async def _attempt(
        self,
        url: str,
        body: bytes,
        request_id: str,
        total: float,
        connect: float,
        kind: QueryKind,
    ) -> Attempted[Page]:
        headers = {
            "Content-Type": "application/json",
            "X-Request-ID": request_id,
            DEADLINE_HEADER: deadline_header(total),
        }
        if self.signer is not None:
            headers = self.signer.sign("POST", url, body, headers)
        timeout = aiohttp.ClientTimeout(total=total, connect=connect)
        try:
            async with self.session.post(url, data=body, headers=headers, timeout=timeout) as r:
                raw = await r.read()
        except self.exceptions as exc:
            return self.failed(exc, total, connect)
        return self._answer(r.status, r.content_type, r.headers.get("Retry-After"), raw, kind)

    def _answer(
        self,
        status: int,
        content_type: str,
        retry_after: str | None,
        raw: bytes,
        kind: QueryKind,
    ) -> Attempted[Page]:
        if status == 200:
            try:
                return Outcome.SUCCESS, _parse_result(raw, kind)
            except ValueError as exc:
                return self.report(Failure.GARBAGE, reason=str(exc)[:200])
        if status in RELAYED_STATUSES:
            problem_body = json_body(content_type, raw)
            if self.relayable(problem_body, status):
                return outcome_of_status(status, retry_after), _relayed(
                    status, problem_body, retry_after
                )
        return self.not_our_api(status, retry_after)

    async def ready(self) -> bool:
        """Whether the internal API answers its health check right now."""
        headers: dict[str, str] = {}
        url = f"{self.base_url}/health"
        if self.signer is not None:
            headers = self.signer.sign("GET", url, b"", headers)
        try:
            async with self.session.get(
                url, headers=headers, timeout=aiohttp.ClientTimeout(total=2.0)
            ) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

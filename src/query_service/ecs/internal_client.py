"""The ECS handler's one way to reach the internal API (ARCHITECTURE §4).

One pooled aiohttp session per process. The choice of client stays in this module: on
this machine a pooled ``httpx.AsyncClient`` forwarded several times fewer requests per
second under concurrency (encode/httpx#3215), and the benchmark suite keeps measuring it.
Deadline, retries and circuit breaking follow ``query_service.resilience``.
"""

from __future__ import annotations

import asyncio
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
    failing_upstream,
    is_problem_body,
)
from query_service.domain.queries import Query
from query_service.domain.records import MalformedRecord, Record
from query_service.ecs.signing import SigV4Signer
from query_service.resilience import (
    CallBudget,
    CircuitBreaker,
    CircuitOpen,
    Outcome,
    RetryPolicy,
    outcome_of_status,
)

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
        records = [Record.checked_dict(item) for item in data["items"]]
    except (MalformedRecord, AttributeError, TypeError) as exc:
        raise ValueError(f"record malformed: {exc}") from exc
    return records, cursor


class InternalApiClient:
    """Calls the internal API within one deadline, with safe retries and a circuit breaker."""

    def __init__(
        self,
        base_url: str,
        timeout: float,
        *,
        pool_size: int = 100,
        policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        signer: SigV4Signer | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.breaker = breaker or CircuitBreaker("internal_api")
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

    async def query(self, query: Query, request_id: str) -> QueryResult:
        """Run ``query`` upstream; every failure becomes a Problem fit for the caller."""
        url = f"{self.base_url}/query/{query.kind.value}"
        body = orjson.dumps(query.normalised())
        budget = CallBudget(self.timeout, self.breaker, self.policy)
        started = time.perf_counter()
        while True:
            try:
                total, connect = budget.begin()
            except CircuitOpen as exc:
                log.warning("internal API circuit open", extra={"retry_after_s": exc.retry_after})
                raise failing_upstream("record service", exc.retry_after_header) from None
            outcome, answer = await self._attempt(url, body, request_id, total, connect)
            wait = budget.retry_after(outcome)
            if wait is None:
                break
            log.warning(
                "retrying the internal API",
                extra={"attempt": budget.attempts, "wait_ms": round(wait * 1000, 1)},
            )
            await asyncio.sleep(wait)
        if isinstance(answer, Problem):
            raise answer
        records, cursor = answer
        return QueryResult(records, cursor, (time.perf_counter() - started) * 1000)

    async def _attempt(
        self, url: str, body: bytes, request_id: str, total: float, connect: float
    ) -> tuple[Outcome, tuple[list[dict[str, Any]], str | None] | Problem]:
        headers = {"Content-Type": "application/json", "X-Request-ID": request_id}
        if self.signer is not None:
            headers = self.signer.sign("POST", url, body, headers)
        try:
            async with self.session.post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=total, connect=connect),
            ) as response:
                raw = await response.read()
                status = response.status
                content_type = response.content_type
                retry_after = response.headers.get("Retry-After")
        except aiohttp.ConnectionTimeoutError:
            # No connection, so no request was sent: as safe to retry as a refused one.
            log.warning("internal API connect timed out", extra={"connect_s": round(connect, 3)})
            return Outcome.RETRYABLE, Problem(
                UPSTREAM_UNAVAILABLE, "The record service is unreachable."
            )
        except TimeoutError:
            log.warning("internal API timed out", extra={"timeout_s": round(total, 3)})
            return Outcome.FAILURE, Problem(
                UPSTREAM_TIMEOUT, "The record service did not answer in time."
            )
        except aiohttp.ClientConnectorError:
            log.warning("internal API unreachable", extra={"upstream": "internal_api"})
            return Outcome.RETRYABLE, Problem(
                UPSTREAM_UNAVAILABLE, "The record service is unreachable."
            )
        except aiohttp.ClientError as exc:
            log.warning("internal API connection failed", extra={"error": type(exc).__name__})
            return Outcome.FAILURE, Problem(UPSTREAM_FAILED, "The record service failed to answer.")
        if status == 200:
            try:
                return Outcome.SUCCESS, _parse_result(raw)
            except ValueError as exc:
                log.error("internal API answered garbage", extra={"reason": str(exc)[:200]})
                return Outcome.FAILURE, Problem(
                    UPSTREAM_FAILED, "The record service answered garbage."
                )
        outcome = outcome_of_status(status, retry_after)
        if status in RELAYED_STATUSES and "json" in content_type:
            try:
                problem_body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                problem_body = None
            if is_problem_body(problem_body) and problem_body["status"] == status:
                return outcome, _relayed(status, problem_body, retry_after)
        log.error("internal API failed", extra={"upstream_status": status})
        # A 4xx we do not relay is a fault between our tiers, not the caller's.
        return (
            Outcome.FAILURE if outcome is Outcome.SUCCESS else outcome,
            Problem(UPSTREAM_FAILED, "The record service failed to answer."),
        )

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

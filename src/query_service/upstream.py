"""One way to call the next tier, for both clients that do (ARCHITECTURE §3, §4).

The ECS handler's ``InternalApiClient`` (aiohttp, async) and the Query Lambda's
``EcsHandlerClient`` (http.client, sync) are ``UpstreamClient``s that add only their I/O: how
to send one attempt and read its answer. What an attempt's result means is decided here:

- ``UpstreamCall`` hands out the attempts its ``CallBudget`` allows (deadline, retries,
  circuit breaker: ``query_service.resilience``) and keeps the last answer;
- each client's table maps its library's transport exceptions (as httpx's
  ``_exceptions.py`` maps httpcore's) to a ``Failure``: whether it is retried, which
  problem the caller gets, which line is logged;
- each attempt tells the next tier how long it may take (``X-Request-Deadline-Ms``:
  ``query_service.deadlines``), and a call whose deadline has passed is not made;
- an answer that is not our API (a proxy's error page, a problem body for another status)
  is one failure, whichever client met it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import Enum
from typing import Any, ClassVar, Generic, TypeGuard, TypeVar

import orjson

from query_service.deadlines import deadline_passed
from query_service.domain.errors import (
    UPSTREAM_FAILED,
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNAVAILABLE,
    Problem,
    ProblemType,
    failing_upstream,
    is_problem_body,
)
from query_service.resilience import (
    CallBudget,
    CircuitBreaker,
    CircuitOpen,
    Outcome,
    RetryPolicy,
    outcome_of_status,
)

T = TypeVar("T")
WARN, ERROR = logging.WARNING, logging.ERROR


class Failure(Enum):
    """A way an attempt fails: whether it is retried, what the caller is told, what is
    logged, and how loud (the network's trouble warns; an answer we cannot use is an error)."""

    UNREACHABLE = (Outcome.RETRYABLE, UPSTREAM_UNAVAILABLE, "is unreachable.", "unreachable", WARN)
    # No connection, so no request was sent: as safe to retry as a refused one.
    CONNECT_TIMED_OUT = (
        Outcome.RETRYABLE,
        UPSTREAM_UNAVAILABLE,
        "is unreachable.",
        "connect timed out",
        WARN,
    )
    TIMED_OUT = (Outcome.FAILURE, UPSTREAM_TIMEOUT, "did not answer in time.", "timed out", WARN)
    BROKEN = (Outcome.FAILURE, UPSTREAM_FAILED, "failed to answer.", "connection failed", WARN)
    GARBAGE = (Outcome.FAILURE, UPSTREAM_FAILED, "answered garbage.", "answered garbage", ERROR)
    NOT_OUR_API = (Outcome.FAILURE, UPSTREAM_FAILED, "failed to answer.", "failed", ERROR)

    def __init__(
        self, outcome: Outcome, kind: ProblemType, detail: str, event: str, level: int
    ) -> None:
        self.outcome = outcome
        self.kind = kind
        self.detail = detail  # completes "The <service> ..." in the caller's problem
        self.event = event  # completes "<upstream> ..." in the log line
        self.level = level


# A client's transport exceptions, most specific first: the first that matches decides.
ErrorTable = tuple[tuple[type[BaseException], Failure], ...]
Attempted = tuple[Outcome, T | Problem]


class UpstreamClient:
    """A client of the next tier, less its I/O: its names, its breaker and retry policy,
    and the table from its transport library's exceptions to what they mean."""

    name: ClassVar[str]  # in the log: "internal API", "ECS handler"
    service: ClassVar[str]  # in the caller's problem: "record service", "query service"
    errors: ClassVar[ErrorTable]
    log: ClassVar[logging.Logger]

    def __init__(
        self,
        base_url: str,
        timeout: float,
        *,
        policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.breaker = breaker or CircuitBreaker(self.name.lower().replace(" ", "_"))
        self.exceptions = tuple(exc for exc, _ in self.errors)

    def start_call(self, within: float | None = None) -> UpstreamCall[Any]:
        """A call that ends within ``timeout``, or sooner when the caller waits less
        (``within`` seconds, from its deadline header); 504 at once if that has passed."""
        timeout = self.timeout if within is None else min(self.timeout, within)
        if timeout <= 0:
            self.log.warning(f"{self.name} not called: the deadline has passed")
            raise deadline_passed(self.service)
        return UpstreamCall(self, CallBudget(timeout, self.breaker, self.policy))

    def failed(self, exc: BaseException, total: float, connect: float) -> Attempted[Any]:
        """An attempt that raised one of ``exceptions``, as the table says."""
        failure = next(f for kind, f in self.errors if isinstance(exc, kind))
        return self.report(
            failure,
            error=type(exc).__name__,
            timeout_s=round(total, 3),
            connect_s=round(connect, 3),
        )

    def report(self, failure: Failure, **extra: object) -> Attempted[Any]:
        self.log.log(failure.level, f"{self.name} {failure.event}", extra=extra)
        return failure.outcome, Problem(failure.kind, f"The {self.service} {failure.detail}")

    def not_our_api(self, status: int, retry_after: str | None, **extra: object) -> Attempted[Any]:
        """An answer that is not our API. A 4xx of that kind is a fault between our tiers,
        not the caller's; a 502/503/504 keeps its outcome (a proxy's 502 is worth retrying)."""
        outcome, problem = self.report(Failure.NOT_OUR_API, upstream_status=status, **extra)
        by_status = outcome_of_status(status, retry_after)
        return (outcome if by_status is Outcome.SUCCESS else by_status), problem

    @staticmethod
    def relayable(body: dict[str, Any] | None, status: int) -> TypeGuard[dict[str, Any]]:
        """Whether ``body`` is our API's problem for this very status, fit to pass on."""
        return body is not None and is_problem_body(body) and body["status"] == status


class UpstreamCall(Generic[T]):
    """One call: the attempts its budget allows, and the answer the last one settled on."""

    def __init__(self, upstream: UpstreamClient, budget: CallBudget) -> None:
        self.upstream = upstream
        self.budget = budget
        self._answer: T | Problem | None = None
        self._settled = False
        self._pending = False

    def attempts(self) -> Iterator[tuple[float, float]]:
        """(total, connect) seconds for each attempt in turn; ``settle`` each one."""
        while not self._settled:
            try:
                timeouts = self.budget.begin()
            except CircuitOpen as exc:
                self.upstream.log.warning(
                    f"{self.upstream.name} circuit open", extra={"retry_after_s": exc.retry_after}
                )
                raise failing_upstream(self.upstream.service, exc.retry_after_header) from None
            self._pending = True
            yield timeouts
            if self._pending:
                raise RuntimeError("an attempt was not settled")

    def settle(self, outcome: Outcome, answer: T | Problem) -> float | None:
        """Record an attempt: the seconds to wait before the next one, or None when done."""
        self._answer, self._pending = answer, False
        wait = self.budget.retry_after(outcome)
        if wait is None:
            self._settled = True
        else:
            self.upstream.log.warning(
                f"retrying the {self.upstream.name}",
                extra={"attempt": self.budget.attempts, "wait_ms": round(wait * 1000, 1)},
            )
        return wait

    def result(self) -> T:
        """The answer, or the Problem the caller gets instead (raised)."""
        answer = self._answer
        if isinstance(answer, Problem):
            raise answer
        if not self._settled or answer is None:
            raise RuntimeError("the call has not settled")
        return answer


def json_body(content_type: str, raw: bytes) -> dict[str, Any] | None:
    """An upstream's body when it is a JSON object it declared as JSON, else None."""
    if "json" not in content_type:
        return None
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None

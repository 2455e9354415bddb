"""Bounded upstream calls: one deadline, a few safe retries, a circuit breaker per upstream.

Sans I/O: the ECS handler (aiohttp, async) and the Query Lambda (http.client, sync) make their
own requests and ask a ``CallBudget`` whether to try, how long they may wait, and whether
to try again. So the rules below hold the same at both hops:

- the whole call, retries included, ends within the caller's ``REQUEST_TIMEOUT``;
- only failures that are safe to retry are retried (the request never reached the
  upstream's logic: connection refused, or the upstream said 502/503/504 without asking
  to wait with Retry-After), at most twice,
  after a jittered backoff, and only if the deadline leaves room for the wait;
- after ``failure_threshold`` failed calls in a row the circuit opens: calls fail at once
  (503) for ``reset_timeout`` seconds; then one probe goes through, and its outcome closes
  or re-opens the circuit.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import NamedTuple

RETRYABLE_STATUSES = frozenset({502, 503, 504})
Clock = Callable[[], float]
# One jitter source per process: seeding a new Random per call (from os.urandom) cost more
# than the rest of a budget's bookkeeping together (make bench, profile section).
_JITTER = random.Random()  # noqa: S311 - backoff jitter, not security


class Outcome(Enum):
    SUCCESS = "success"  # the upstream answered as it should (4xx included: our caller's fault)
    RETRYABLE = "retryable"  # connection refused, 502/503/504: safe to try again
    BUSY = "busy"  # 503 with Retry-After: alive, and asking callers to wait; relayed as is
    FAILURE = "failure"  # timed out, reset mid-answer, garbage: not retried


def outcome_of_status(status: int, retry_after: str | None = None) -> Outcome:
    """What an HTTP status says of the upstream. A 503 with Retry-After (DynamoDB throttled
    behind it, or its own circuit open) is not retried here: every tier retrying it would
    multiply the load on what is already overloaded."""
    if status == 503 and retry_after:
        return Outcome.BUSY
    if status in RETRYABLE_STATUSES:
        return Outcome.RETRYABLE
    if status >= 500:
        return Outcome.FAILURE
    return Outcome.SUCCESS


class RetryPolicy(NamedTuple):
    max_retries: int = 2
    base_delay: float = 0.05
    max_delay: float = 0.4
    connect_timeout: float = 1.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2**retry)]."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2**retry))


class CircuitOpen(Exception):
    """The upstream is failing; ``retry_after`` is when the next probe may go through."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"circuit {name} is open for {retry_after:.1f} s more")
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class CircuitBreaker:
    """Closed → open after consecutive failures → half-open (one probe) → closed or open."""

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        reset_timeout: float = 5.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()  # the local gateway calls a Lambda from many threads
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_started: float | None = None

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._clock() - self._opened_at < self.reset_timeout:
                return "open"
            return "half-open"

    def acquire(self) -> None:
        """Permission for one call; raises CircuitOpen while the circuit is open."""
        with self._lock:
            if self._opened_at is None:
                return
            waited = self._clock() - self._opened_at
            if waited < self.reset_timeout:
                raise CircuitOpen(self.name, self.reset_timeout - waited)
            now = self._clock()
            # One probe at a time; the others fail fast meanwhile. A probe never reported
            # (its caller was cancelled) stops counting after reset_timeout.
            if self._probe_started is not None and now - self._probe_started < self.reset_timeout:
                raise CircuitOpen(self.name, 1.0)
            self._probe_started = now

    def record(self, outcome: Outcome) -> None:
        with self._lock:
            self._probe_started = None
            if outcome in (Outcome.SUCCESS, Outcome.BUSY):
                self._failures, self._opened_at = 0, None
                return
            self._failures += 1
            if self._opened_at is not None or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()


class CallBudget:
    """One upstream call: its deadline, its attempts, and the breaker it reports to.

    (A plain class, as ``RetryPolicy`` is a NamedTuple: the Query Lambda imports this at
    cold start, where each ``dataclass`` costs more to make than it saves to write.)
    """

    def __init__(
        self,
        timeout: float,
        breaker: CircuitBreaker,
        policy: RetryPolicy | None = None,
        clock: Clock = time.monotonic,
        rng: random.Random = _JITTER,
    ) -> None:
        self.timeout = timeout
        self.breaker = breaker
        self.policy = RetryPolicy() if policy is None else policy
        self.clock = clock
        self.rng = rng
        self.attempts = 0
        self._deadline = clock() + timeout

    def remaining(self) -> float:
        return self._deadline - self.clock()

    def begin(self) -> tuple[float, float]:
        """Before an attempt: (total, connect) seconds it may take. Raises CircuitOpen."""
        self.breaker.acquire()
        self.attempts += 1
        total = max(self.remaining(), 0.001)
        return total, min(self.policy.connect_timeout, total)

    def retry_after(self, outcome: Outcome) -> float | None:
        """After an attempt: seconds to wait before the next one, or None to stop here."""
        self.breaker.record(outcome)
        if outcome is not Outcome.RETRYABLE or self.attempts > self.policy.max_retries:
            return None
        wait = self.policy.backoff(self.attempts - 1, self.rng)
        # Leave the next attempt a useful slice of the deadline, or do not make it.
        if self.remaining() - wait < min(0.05, self.timeout / 10):
            return None
        return wait

"""The retry, deadline and circuit-breaker rules, on a clock the test moves."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from query_service.resilience import (
    CallBudget,
    CircuitBreaker,
    CircuitOpen,
    Outcome,
    RetryPolicy,
    outcome_of_status,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_statuses_that_are_safe_to_retry() -> None:
    assert [outcome_of_status(s) for s in (200, 400, 404, 500, 502, 503, 504)] == [
        Outcome.SUCCESS,
        Outcome.SUCCESS,
        Outcome.SUCCESS,
        Outcome.FAILURE,
        Outcome.RETRYABLE,
        Outcome.RETRYABLE,
        Outcome.RETRYABLE,
    ]


def test_a_503_asking_to_wait_is_busy_not_retryable_and_keeps_the_circuit_closed() -> None:
    assert outcome_of_status(503, "1") is Outcome.BUSY
    assert outcome_of_status(502, "1") is Outcome.RETRYABLE
    clock = Clock()
    breaker = CircuitBreaker("up", failure_threshold=2, clock=clock)
    for _ in range(5):
        b = CallBudget(10, breaker, RetryPolicy(), clock)
        b.begin()
        assert b.retry_after(Outcome.BUSY) is None
    assert breaker.state == "closed"


def test_the_breaker_opens_after_consecutive_failures_and_fails_fast() -> None:
    clock = Clock()
    breaker = CircuitBreaker("up", failure_threshold=3, reset_timeout=5.0, clock=clock)
    for outcome in (Outcome.FAILURE, Outcome.RETRYABLE, Outcome.SUCCESS):  # a success resets
        breaker.acquire()
        breaker.record(outcome)
    assert breaker.state == "closed"
    for _ in range(3):
        breaker.acquire()
        breaker.record(Outcome.FAILURE)
    assert breaker.state == "open"
    clock.now += 4.0
    with pytest.raises(CircuitOpen) as raised:
        breaker.acquire()
    assert raised.value.retry_after == pytest.approx(1.0)
    assert raised.value.retry_after_header == "1"


def test_half_open_lets_one_probe_through_and_its_outcome_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker("up", failure_threshold=1, reset_timeout=2.0, clock=clock)
    breaker.acquire()
    breaker.record(Outcome.FAILURE)
    clock.now += 2.0
    assert breaker.state == "half-open"
    breaker.acquire()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.acquire()  # a second caller while the probe is out
    breaker.record(Outcome.FAILURE)
    assert breaker.state == "open"  # the probe failed: open again, for a full period
    clock.now += 2.0
    breaker.acquire()
    breaker.record(Outcome.SUCCESS)
    assert breaker.state == "closed"
    breaker.acquire()


def test_a_probe_that_never_reports_does_not_wedge_the_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker("up", failure_threshold=1, reset_timeout=1.0, clock=clock)
    breaker.acquire()
    breaker.record(Outcome.FAILURE)
    clock.now += 1.0
    breaker.acquire()  # a probe whose caller was cancelled
    clock.now += 1.0
    breaker.acquire()  # a new probe is allowed


def budget(timeout: float, clock: Clock, **policy: float) -> CallBudget:
    breaker = CircuitBreaker("up", failure_threshold=100, clock=clock)
    return CallBudget(timeout, breaker, RetryPolicy(**policy), clock, random.Random(1))  # type: ignore[arg-type]


def test_only_retryable_failures_are_retried_and_at_most_twice() -> None:
    clock = Clock()
    for outcome in (Outcome.SUCCESS, Outcome.FAILURE):
        b = budget(10, clock)
        b.begin()
        assert b.retry_after(outcome) is None
    b = budget(10, clock)
    waits = []
    for _ in range(5):
        b.begin()
        wait = b.retry_after(Outcome.RETRYABLE)
        if wait is None:
            break
        waits.append(wait)
    assert b.attempts == 3 and len(waits) == 2


def test_no_retry_when_the_deadline_leaves_no_room() -> None:
    clock = Clock()
    b = budget(1.0, clock, base_delay=0.4, max_delay=0.4)
    b.begin()
    clock.now += 0.98
    assert b.retry_after(Outcome.RETRYABLE) is None


def test_each_attempt_gets_what_is_left_of_the_deadline() -> None:
    clock = Clock()
    b = budget(2.0, clock, connect_timeout=1.0)
    assert b.begin() == (2.0, 1.0)
    clock.now += 1.7
    b.retry_after(Outcome.RETRYABLE)
    total, connect = b.begin()
    assert total == pytest.approx(0.3) and connect == pytest.approx(0.3)


@given(st.integers(min_value=0, max_value=20), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_jittered_within_its_bounds(retry: int, seed: int) -> None:
    policy = RetryPolicy(base_delay=0.05, max_delay=0.4)
    wait = policy.backoff(retry, random.Random(seed))
    assert 0.0 <= wait <= min(0.4, 0.05 * 2**retry)


def test_budgets_share_one_jitter_source_instead_of_seeding_one_per_call() -> None:
    breaker = CircuitBreaker("up")
    first, second = CallBudget(1.0, breaker), CallBudget(1.0, breaker)
    assert first.rng is second.rng
    first.begin()
    assert first.retry_after(Outcome.RETRYABLE) is not None  # the shared source still jitters

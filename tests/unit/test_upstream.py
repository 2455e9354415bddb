"""One upstream-call loop for both clients: the attempts a call hands out, and the one table
per transport library that says what each of its exceptions means."""

from __future__ import annotations

import http.client
import logging
from typing import Any

import aiohttp
import pytest

from query_service.domain.errors import Problem
from query_service.ecs.internal_client import AIOHTTP_ERRORS
from query_service.lambdas.ecs_handler_client import (
    HTTP_CLIENT_ERRORS,
    ConnectTimedOut,
    Unreachable,
)
from query_service.resilience import CircuitBreaker, Outcome, RetryPolicy
from query_service.upstream import ErrorTable, UpstreamClient, json_body

QUICK = RetryPolicy(base_delay=0.0, max_delay=0.0)


def upstream(table: ErrorTable = (), **breaker: Any) -> UpstreamClient:
    class StubClient(UpstreamClient):
        name, service, errors, log = "stub API", "stub service", table, logging.getLogger("t")

    return StubClient("http://stub", 5.0, policy=QUICK, breaker=CircuitBreaker("t", **breaker))


def run(up: UpstreamClient, answers: list[tuple[Outcome, Any]], timeout: float = 5.0) -> Any:
    """Drive one call as a client does, answering each attempt from ``answers`` in turn."""
    call = up.start_call(timeout)
    script = iter(answers)
    for _total, _connect in call.attempts():
        call.settle(*next(script))
    return call.result()


def test_retryable_attempts_are_made_again_and_the_last_answer_is_the_call_s() -> None:
    up = upstream()
    retry = up.not_our_api(502, None)
    assert run(up, [retry, retry, (Outcome.SUCCESS, "page")]) == "page"


def test_a_call_stops_after_two_retries_and_raises_the_last_problem() -> None:
    up = upstream()
    outcome, problem = up.not_our_api(502, None)
    assert outcome is Outcome.RETRYABLE
    with pytest.raises(Problem) as raised:
        run(up, [(outcome, problem)] * 3)
    assert raised.value.status == 502
    assert up.breaker.state == "closed"  # 3 failures, the threshold is 5


def test_an_open_circuit_answers_503_with_retry_after_without_an_attempt() -> None:
    up = upstream(failure_threshold=1)
    with pytest.raises(Problem):
        run(up, [up.not_our_api(500, None)])
    call = up.start_call(5.0)
    with pytest.raises(Problem) as raised:
        next(iter(call.attempts()))
    assert raised.value.status == 503
    assert "stub service is failing" in raised.value.detail
    assert int(raised.value.headers["Retry-After"]) >= 1


def test_an_attempt_left_unsettled_is_a_programming_error() -> None:
    call = upstream().start_call(5.0)
    attempts = call.attempts()
    next(attempts)
    with pytest.raises(RuntimeError):
        next(attempts)


@pytest.mark.parametrize(
    ("status", "retry_after", "outcome"),
    [
        (403, None, Outcome.FAILURE),  # API Gateway's own 403: a fault between our tiers
        (200, None, Outcome.FAILURE),  # a 200 that is not our answer
        (500, None, Outcome.FAILURE),
        (502, None, Outcome.RETRYABLE),  # a proxy's 502 is still worth another try
        (503, "2", Outcome.BUSY),
    ],
)
def test_an_answer_that_is_not_our_api_is_a_502_with_the_status_s_outcome(
    status: int, retry_after: str | None, outcome: Outcome
) -> None:
    got, problem = upstream().not_our_api(status, retry_after)
    assert got is outcome
    assert isinstance(problem, Problem) and problem.status == 502


def connector_error() -> aiohttp.ClientConnectorError:
    return aiohttp.ClientConnectorError(None, ConnectionRefusedError())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("table", "exc", "status", "outcome", "logged"),
    [
        (
            AIOHTTP_ERRORS,
            aiohttp.ConnectionTimeoutError(),
            503,
            Outcome.RETRYABLE,
            "connect timed out",
        ),
        (AIOHTTP_ERRORS, TimeoutError(), 504, Outcome.FAILURE, "timed out"),
        (AIOHTTP_ERRORS, connector_error(), 503, Outcome.RETRYABLE, "unreachable"),
        (
            AIOHTTP_ERRORS,
            aiohttp.ServerDisconnectedError(),
            502,
            Outcome.FAILURE,
            "connection failed",
        ),
        (HTTP_CLIENT_ERRORS, Unreachable("refused"), 503, Outcome.RETRYABLE, "unreachable"),
        (
            HTTP_CLIENT_ERRORS,
            ConnectTimedOut("timed out"),
            503,
            Outcome.RETRYABLE,
            "connect timed out",
        ),
        (HTTP_CLIENT_ERRORS, TimeoutError("slow"), 504, Outcome.FAILURE, "timed out"),
        (
            HTTP_CLIENT_ERRORS,
            http.client.RemoteDisconnected("closed"),
            502,
            Outcome.FAILURE,
            "connection failed",
        ),
        (
            HTTP_CLIENT_ERRORS,
            ConnectionResetError("reset"),
            502,
            Outcome.FAILURE,
            "connection failed",
        ),
    ],
)
def test_each_transport_exception_has_one_outcome_problem_and_log_line(
    table: ErrorTable,
    exc: BaseException,
    status: int,
    outcome: Outcome,
    logged: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    up = upstream(table)
    assert isinstance(exc, up.exceptions)
    got, problem = up.failed(exc, total=2.0, connect=1.0)
    assert (got, problem.status) == (outcome, status)
    assert problem.detail.startswith("The stub service ")
    assert [r.getMessage() for r in caplog.records] == [f"stub API {logged}"]


def test_only_a_json_object_problem_for_the_same_status_is_relayed() -> None:
    problem = {"type": "/problems/x", "title": "x", "status": 400, "detail": "bad cursor"}
    body = json_body(
        "application/problem+json",
        b'{"type": "/problems/x", "title": "x", "status": 400, "detail": "bad cursor"}',
    )
    assert body == problem and UpstreamClient.relayable(body, 400)
    assert not UpstreamClient.relayable(body, 502)
    assert json_body("text/html", b"{}") is None
    assert json_body("application/json", b"[1]") is None
    assert json_body("application/json", b"{cut") is None

"""Fault injection against real sockets: dead, slow, garbage and flapping upstreams, and a
throttling DynamoDB, at each hop. Each failure must answer with its status, in bounded time,
as problem+json without internals; safe failures are retried, others are not."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from query_service.config import Settings
from query_service.domain.errors import Problem
from query_service.domain.queries import UserQuery
from query_service.ecs.app import create_app
from query_service.ecs.internal_client import InternalApiClient
from query_service.lambdas import query_entry, query_result
from query_service.resilience import CircuitBreaker
from tests.support import (
    FakeContext,
    Reply,
    Seen,
    StubServer,
    apigw_event,
    black_hole,
    free_port,
    record,
)

OK = {"items": [record()], "next_cursor": None}
ENTRY_OK = {"success": True, "data": [], "total_count": 0, "next_cursor": None, "message": "x"}
USER = {"user_id": "test_user_001"}
PROBLEM_502 = {"type": "/problems/x", "title": "x", "status": 502, "detail": "x"}


def scripted(*replies: Reply) -> Callable[[Seen], Reply]:
    """Answer with ``replies`` in turn, then keep giving the last one."""
    script = itertools.chain(replies, itertools.repeat(replies[-1]))
    return lambda _: next(script)


@pytest.fixture
def upstream() -> Iterator[StubServer]:
    with StubServer().running() as stub:
        yield stub


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    answer = call()
    return answer, time.perf_counter() - started


# -- ECS handler → internal API ----------------------------------------------------------


def ecs_app(url: str, timeout: float = 1.0) -> TestClient:
    return TestClient(create_app(Settings(internal_api_url=url, request_timeout=timeout)))


def problem_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    for leak in ("Traceback", "127.0.0.1", "aiohttp", "Error:"):
        assert leak not in response.text
    body: dict[str, Any] = response.json()
    return body


def test_ecs_flapping_upstream_is_retried_to_success(upstream: StubServer) -> None:
    upstream.reply = scripted(
        Reply(503, PROBLEM_502 | {"status": 503}),
        Reply(502, "bad gateway", content_type="text/plain"),
        Reply(200, OK),
    )
    with ecs_app(upstream.url) as api:
        response = api.post("/query/user", json=USER)
    assert response.status_code == 200
    assert len(upstream.seen) == 3


def test_ecs_gives_up_after_two_retries(upstream: StubServer) -> None:
    upstream.reply = lambda _: Reply(504, "gateway timeout", content_type="text/plain")
    with ecs_app(upstream.url) as api:
        problem_of(api.post("/query/user", json=USER), 502)
    assert len(upstream.seen) == 3


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, "not json at all", content_type="text/plain"),
        Reply(200, b"<html>not json</html>", content_type="text/html"),
        Reply(200, b"{truncated"),
        Reply(200, {"rows": []}),
        Reply(200, {"items": [{"user_id": "x"}]}),
        Reply(200, {"items": [], "next_cursor": 5}),
        Reply(500, "boom", content_type="text/plain"),
        Reply(500, {"message": "Internal server error"}),
        Reply(403, {"message": "Missing Authentication Token"}),
        Reply(400, b"plain text", content_type="text/plain"),
    ],
)
def test_ecs_garbage_is_502_and_not_retried(upstream: StubServer, reply: Reply) -> None:
    upstream.reply = lambda _: reply
    with ecs_app(upstream.url) as api:
        body = problem_of(api.post("/query/user", json=USER), 502)
    assert "Missing Authentication" not in str(body)
    assert len(upstream.seen) == 1


def test_ecs_slow_upstream_is_504_at_the_timeout_and_not_retried(
    upstream: StubServer,
) -> None:
    release = threading.Event()
    upstream.reply = lambda _: Reply(200, OK, until=release)
    try:
        with ecs_app(upstream.url, timeout=1.0) as api:
            response = api.post("/query/user", json=USER)
        gave_up_first = not release.is_set()  # the upstream still holds the request
    finally:
        release.set()
    problem_of(response, 504)
    assert gave_up_first
    assert len(upstream.seen) == 1


def test_ecs_dead_upstream_is_503_fast_and_not_ready() -> None:
    with ecs_app(f"http://127.0.0.1:{free_port()}", timeout=5.0) as api:
        response, took = timed(lambda: api.post("/query/user", json=USER))
        ready = api.get("/health/ready")
        alive = api.get("/health")
    problem_of(response, 503)
    assert took < 1.0, took
    problem_of(ready, 503)
    assert alive.status_code == 200  # not ready, but alive: no restart for a dead upstream


def test_ecs_connect_timeout_is_retried_then_503_within_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with black_hole() as url, ecs_app(url, timeout=5.0) as api:
        response, took = timed(lambda: api.post("/query/user", json=USER))
    problem_of(response, 503)
    connects = [r for r in caplog.records if r.getMessage() == "internal API connect timed out"]
    assert len(connects) == 3  # the first try and two retries, each cut at the 1 s connect
    assert took < 5.0 + 0.5, took


def test_ecs_circuit_opens_and_then_answers_503_without_calling(upstream: StubServer) -> None:
    upstream.reply = lambda _: Reply(502, "bad gateway", content_type="text/plain")
    with ecs_app(upstream.url) as api:
        for _ in range(2):  # 3 attempts each: the breaker opens at the fifth failure
            api.post("/query/user", json=USER)
        calls = len(upstream.seen)
        response, took = timed(lambda: api.post("/query/user", json=USER))
    body = problem_of(response, 503)
    assert int(response.headers["retry-after"]) >= 1
    assert "try again shortly" in body["detail"]
    assert len(upstream.seen) == calls and calls == 5
    assert took < 0.5, took  # fast: no call was made (the count above proves it)


def test_the_circuit_probes_and_closes_when_the_upstream_recovers(
    upstream: StubServer,
) -> None:
    async def scenario() -> list[int | str]:
        client = InternalApiClient(
            upstream.url, 1.0, breaker=CircuitBreaker("t", failure_threshold=1, reset_timeout=0.3)
        )
        await client.start()
        seen: list[int | str] = []
        try:
            for pause in (0.0, 0.0, 0.35, 0.0):
                await asyncio.sleep(pause)
                try:
                    await client.query(UserQuery(user_id="u"), "r")
                    seen.append("ok")
                except Problem as problem:
                    seen.append(problem.status)
        finally:
            await client.close()
        return seen

    upstream.reply = scripted(Reply(500, "boom", content_type="text/plain"), Reply(200, OK))
    assert asyncio.run(scenario()) == [502, 503, "ok", "ok"]
    assert len(upstream.seen) == 3  # the open circuit spared the upstream one call


# -- Query Lambda → ECS handler ----------------------------------------------------------


@pytest.fixture
def ecs(monkeypatch: pytest.MonkeyPatch, upstream: StubServer) -> StubServer:
    monkeypatch.setenv("ECS_HANDLER_URL", upstream.url)
    monkeypatch.setenv("REQUEST_TIMEOUT", "1")
    return upstream


def entry(body: object = USER) -> dict[str, Any]:
    event = apigw_event("POST", "/query/user", orjson.dumps(body).decode(), resource="/{proxy+}")
    return query_entry.lambda_handler(event, FakeContext())


def entry_problem(response: dict[str, Any], status: int) -> dict[str, Any]:
    assert response["statusCode"] == status, response
    assert response["headers"]["Content-Type"] == "application/problem+json"
    assert "127.0.0.1" not in response["body"] and "Traceback" not in response["body"]
    body: dict[str, Any] = orjson.loads(response["body"])
    return body


def test_entry_flapping_ecs_is_retried_to_success(ecs: StubServer) -> None:
    ecs.reply = scripted(Reply(502, "x", content_type="text/plain"), Reply(200, ENTRY_OK))
    assert entry()["statusCode"] == 200
    assert len(ecs.seen) == 2


@pytest.mark.parametrize(
    "reply",
    [
        Reply(502, b"<html>502 Bad Gateway</html>", content_type="text/html"),
        Reply(500, {"detail": "Internal Server Error"}),
        Reply(200, b"{cut", content_type="application/json"),
    ],
)
def test_entry_garbage_from_ecs_is_502(ecs: StubServer, reply: Reply) -> None:
    ecs.reply = lambda _: reply
    entry_problem(entry(), 502)


def test_entry_slow_ecs_is_504_at_the_timeout(ecs: StubServer) -> None:
    release = threading.Event()
    ecs.reply = lambda _: Reply(200, ENTRY_OK, until=release)
    try:
        response = entry()
        gave_up_first = not release.is_set()  # the ECS handler still holds the request
    finally:
        release.set()
    entry_problem(response, 504)
    assert gave_up_first
    assert len(ecs.seen) == 1


def timed_entry_against(monkeypatch: pytest.MonkeyPatch, url: str) -> tuple[Any, float]:
    """One Query Lambda call with ECS_HANDLER_URL=url and REQUEST_TIMEOUT=5."""
    monkeypatch.setenv("ECS_HANDLER_URL", url)
    monkeypatch.setenv("REQUEST_TIMEOUT", "5")
    return timed(entry)


def test_entry_dead_ecs_is_503_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    response, took = timed_entry_against(monkeypatch, f"http://127.0.0.1:{free_port()}")
    entry_problem(response, 503)
    assert took < 1.0, took


def test_entry_connect_timeout_is_retried_then_503(monkeypatch: pytest.MonkeyPatch) -> None:
    with black_hole() as url:
        response, took = timed_entry_against(monkeypatch, url)
    entry_problem(response, 503)
    assert 2.0 < took < 5.0 + 0.5, took  # retried: more than the first 1 s connect


def test_entry_circuit_opens_on_a_failing_ecs(ecs: StubServer) -> None:
    ecs.reply = lambda _: Reply(503, "x", content_type="text/plain")
    for _ in range(2):
        entry()
    calls = len(ecs.seen)
    response, took = timed(entry)
    entry_problem(response, 503)
    assert response["headers"]["Retry-After"]
    assert len(ecs.seen) == calls == 5
    assert took < 0.5  # fast: no call was made


# -- Query Result Lambda → DynamoDB (a throttling endpoint on a real socket) -------------


def test_dynamodb_throttling_is_503_with_retry_after(
    monkeypatch: pytest.MonkeyPatch, upstream: StubServer
) -> None:
    throttled = {
        "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "message": "Rate of requests exceeds the allowed throughput.",
    }
    upstream.reply = lambda _: Reply(400, throttled, content_type="application/x-amz-json-1.0")
    monkeypatch.setenv("DYNAMODB_ENDPOINT_URL", upstream.url)
    event = apigw_event("POST", "/query/user", orjson.dumps(USER).decode())
    event["resource"], event["pathParameters"] = "/query/{kind}", {"kind": "user"}
    response, took = timed(lambda: query_result.lambda_handler(event, FakeContext()))  # type: ignore[arg-type]
    assert response["statusCode"] == 503
    headers = response.get("multiValueHeaders") or {}
    assert (
        headers.get("Retry-After") == ["1"]
        or (response.get("headers") or {}).get("Retry-After") == "1"
    )
    assert "exceeds" not in response["body"]
    assert len(upstream.seen) >= 2  # botocore's own retries ran first
    assert took < 5.0, took


def test_a_busy_upstream_is_relayed_at_once_and_never_opens_the_circuit(
    upstream: StubServer,
) -> None:
    """503 + Retry-After (DynamoDB throttled behind it): retrying at every tier would only
    multiply the load, so each hop relays it to the caller after one call."""
    busy = {"type": "/problems/x", "title": "x", "status": 503, "detail": "The store is busy."}
    upstream.reply = lambda _: Reply(503, busy, headers={"Retry-After": "1"})
    with ecs_app(upstream.url) as api:
        for count in range(1, 8):
            response = api.post("/query/user", json=USER)
            problem_of(response, 503)
            assert response.headers["retry-after"] == "1"
            assert len(upstream.seen) == count


def test_entry_relays_a_busy_ecs_without_retrying(ecs: StubServer) -> None:
    busy = {"type": "/problems/x", "title": "x", "status": 503, "detail": "busy"}
    ecs.reply = lambda _: Reply(
        503, busy, headers={"Retry-After": "2"}, content_type="application/problem+json"
    )
    for count in range(1, 8):
        response = entry()
        entry_problem(response, 503)
        assert response["headers"]["Retry-After"] == "2"
        assert len(ecs.seen) == count

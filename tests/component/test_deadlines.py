"""Deadlines that travel (ARCHITECTURE §3): each hop sends the next X-Request-Deadline-Ms,
the time its own caller still waits, and the next hop gives up by then; a deadline that
has passed is a 504 at once, without calling further. Real sockets at every hop."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from query_service.config import Settings
from query_service.ecs.app import create_app
from query_service.lambdas import query_entry, query_result
from tests.component.conftest import Tables
from tests.component.test_upstream_faults import timed
from tests.component.test_upstream_faults import upstream as upstream  # the fixture
from tests.support import FakeContext, Reply, StubServer, apigw_event, free_port, record

HEADER = "X-Request-Deadline-Ms"
OK = {"items": [record()], "next_cursor": None}
ENTRY_OK = {"success": True, "data": [], "total_count": 0, "next_cursor": None, "message": "x"}
USER = {"user_id": "test_user_001"}


class Context(FakeContext):
    """A Lambda context whose invocation has ``seconds`` left, counted from now."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def sent_deadline(stub: StubServer) -> int:
    [seen] = stub.seen
    return int(seen.headers[HEADER.lower()])


# -- ECS handler → internal API ----------------------------------------------------------


def ecs_post(url: str, headers: dict[str, str], timeout: float = 30.0) -> Any:
    settings = Settings(internal_api_url=url, request_timeout=timeout)
    with TestClient(create_app(settings)) as api:
        return timed(lambda: api.post("/query/user", json=USER, headers=headers))


def test_the_ecs_handler_gives_up_by_its_caller_s_deadline(upstream: StubServer) -> None:
    release = threading.Event()  # the upstream holds the request until the test is done
    upstream.reply = lambda _: Reply(200, OK, until=release)
    try:
        response, took = ecs_post(upstream.url, {HEADER: "500"})  # REQUEST_TIMEOUT is 30 s
    finally:
        release.set()
    assert response.status_code == 504, response.text
    assert took < 0.5 + 0.5, took
    assert 0 < sent_deadline(upstream) <= 400  # what it was told, less its answer's reserve


def test_the_ecs_handler_forwards_its_own_timeout_when_the_caller_says_nothing(
    upstream: StubServer,
) -> None:
    upstream.reply = lambda _: Reply(200, OK)
    response, _ = ecs_post(upstream.url, {}, timeout=2.0)
    assert response.status_code == 200
    assert 1500 < sent_deadline(upstream) <= 2000


def test_a_passed_deadline_is_504_at_once_without_calling(upstream: StubServer) -> None:
    response, took = ecs_post(upstream.url, {HEADER: "0"})
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"
    assert "deadline passed" in response.json()["detail"]
    assert upstream.seen == [] and took < 0.5


@pytest.mark.parametrize("value", ["soon", "-5", "1.5", "1" * 10, ""])
def test_a_malformed_deadline_is_a_400_naming_the_header(upstream: StubServer, value: str) -> None:
    response, _ = ecs_post(upstream.url, {HEADER: value})
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [HEADER]
    assert upstream.seen == []


# -- Query Lambda → ECS handler ----------------------------------------------------------


@pytest.fixture
def ecs(monkeypatch: pytest.MonkeyPatch, upstream: StubServer) -> StubServer:
    monkeypatch.setenv("ECS_HANDLER_URL", upstream.url)
    monkeypatch.setenv("REQUEST_TIMEOUT", "10")
    return upstream


def entry(context: FakeContext, headers: dict[str, str] | None = None) -> dict[str, Any]:
    event = apigw_event("POST", "/query/user", orjson.dumps(USER).decode(), headers=headers)
    return query_entry.lambda_handler(event, context)  # type: ignore[arg-type]


def test_the_query_lambda_sends_what_its_own_invocation_has_left(ecs: StubServer) -> None:
    ecs.reply = lambda _: Reply(200, ENTRY_OK)
    assert entry(Context(2.0))["statusCode"] == 200
    assert 1500 < sent_deadline(ecs) <= 1900  # REQUEST_TIMEOUT is 10 s


def test_the_query_lambda_honours_its_caller_s_deadline(ecs: StubServer) -> None:
    release = threading.Event()
    ecs.reply = lambda _: Reply(200, ENTRY_OK, until=release)
    try:
        response, took = timed(lambda: entry(Context(10.0), {HEADER: "300"}))
    finally:
        release.set()
    assert response["statusCode"] == 504
    assert took < 0.3 + 0.5, took
    assert 0 < sent_deadline(ecs) <= 200


def test_the_query_lambda_does_not_call_when_no_time_is_left(ecs: StubServer) -> None:
    response, took = timed(lambda: entry(Context(0.05)))  # less than it needs to answer
    assert response["statusCode"] == 504
    assert ecs.seen == [] and took < 0.5
    bad = entry(Context(10.0), {HEADER: "in a minute"})
    assert bad["statusCode"] == 400 and ecs.seen == []


# -- Query Result Lambda ------------------------------------------------------------------


def test_the_query_result_lambda_spares_dynamodb_a_call_nobody_waits_for(tables: Tables) -> None:
    event = apigw_event("POST", "/query/user", orjson.dumps(USER).decode(), headers={HEADER: "0"})
    event["resource"], event["pathParameters"] = "/query/{kind}", {"kind": "user"}
    with mock.patch.object(query_result._repository(), "page") as page:
        response = query_result.lambda_handler(event, FakeContext())  # type: ignore[arg-type]
    assert response["statusCode"] == 504
    page.assert_not_called()


# -- the chain: Query Lambda → ECS handler (uvicorn, real HTTP) → a hanging internal API ----


@pytest.fixture
def ecs_server(upstream: StubServer) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The ECS handler as the image runs it (uvicorn, its own process), with the brief's
    30 s REQUEST_TIMEOUT; its log lines are its stdout."""
    port = free_port()
    env = {**os.environ, "INTERNAL_API_URL": upstream.url, "REQUEST_TIMEOUT": "30"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "query_service.ecs.app:app", "--host", "127.0.0.1",
         "--port", str(port)],
        env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "no ECS handler"
            time.sleep(0.05)
        yield base, process
    finally:
        process.terminate()
        process.wait(10)


def test_a_hanging_upstream_is_abandoned_by_every_tier_within_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
    upstream: StubServer,
    ecs_server: tuple[str, subprocess.Popen[str]],
) -> None:
    url, process = ecs_server
    release = threading.Event()
    upstream.reply = lambda _: Reply(200, OK, until=release)  # the internal API hangs
    monkeypatch.setenv("ECS_HANDLER_URL", url)
    monkeypatch.setenv("REQUEST_TIMEOUT", "10")
    try:
        response, took = timed(lambda: entry(Context(2.0)))  # 2 s left of the invocation
    finally:
        release.set()
    assert response["statusCode"] == 504
    assert took < 2.0, took  # the Query Lambda answered within its invocation
    # What the ECS handler told the internal API: less than it was told, less than 2 s.
    assert int(upstream.seen[0].headers[HEADER.lower()]) < 1800
    # The ECS handler's request lines (a retry of its 504 finds the deadline passed and is
    # refused at once): each a 504 well within the 2 s, none waiting its own 30 s.
    process.terminate()
    out, _ = process.communicate(timeout=10)
    lines = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    requests = [r for r in lines if r.get("message") == "request" and r["route"] != "/health"]
    assert requests and all(r["route"] == "/query/user" for r in requests), requests
    assert all(r["status"] == 504 and r["latency_ms"] < 2000 for r in requests), requests
    assert max(r["latency_ms"] for r in requests) > 1500  # the first waited its deadline

"""The Query Lambda with API Gateway proxy events, forwarding to a real HTTP server."""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest

from query_service.lambdas import query_entry
from tests.support import FakeContext, Reply, StubServer, apigw_event

SUCCESS = {"success": True, "data": [], "total_count": 0, "next_cursor": None, "message": "x"}


def configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def ecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubServer]:
    with StubServer().running() as stub:
        configure(monkeypatch, ECS_HANDLER_URL=stub.url, REQUEST_TIMEOUT="0.5")
        stub.reply = lambda _: Reply(200, SUCCESS)
        yield stub


def invoke(method: str, path: str, body: object = None, **kwargs: Any) -> dict[str, Any]:
    raw = body if body is None or isinstance(body, str) else orjson.dumps(body).decode()
    event = apigw_event(method, path, raw, resource="/{proxy+}", **kwargs)
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    return query_entry.lambda_handler(event, FakeContext())


def problem(response: dict[str, Any], status: int) -> dict[str, Any]:
    assert response["statusCode"] == status, response
    assert response["headers"]["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = orjson.loads(response["body"])
    assert body["status"] == status
    assert "127.0.0.1" not in response["body"] and "Traceback" not in response["body"]
    return body


def test_valid_query_is_forwarded_normalised_and_relayed(ecs: StubServer) -> None:
    response = invoke(
        "POST", "/query/user", {"user_id": "test_user_001"}, headers={"X-Request-ID": "req-1"}
    )
    assert response["statusCode"] == 200
    assert orjson.loads(response["body"]) == SUCCESS
    assert response["headers"]["X-Request-ID"] == "req-1"
    seen = ecs.seen[-1]
    assert (seen.method, seen.path) == ("POST", "/query/user")
    assert orjson.loads(seen.body) == {"user_id": "test_user_001", "limit": 10}
    assert seen.headers["x-request-id"] == "req-1"


def test_without_a_request_id_api_gateways_is_used(ecs: StubServer) -> None:
    response = invoke("GET", "/query/tx", query={"transaction_id": ["tx_1"]})
    assert response["headers"]["X-Request-ID"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert ecs.seen[-1].headers["x-request-id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def test_get_and_base64_post_forward_the_same_query(ecs: StubServer) -> None:
    get = invoke("GET", "/query/fail", query={"transaction_id": ["tx_002"]})
    plain = invoke("POST", "/query/fail", '{"transaction_id":"tx_002"}')
    encoded = base64.b64encode(b'{"transaction_id":"tx_002"}').decode()
    base64_post = invoke("POST", "/query/fail", encoded, base64=True)
    assert ecs.seen[0].body == ecs.seen[1].body == ecs.seen[2].body
    assert get["statusCode"] == plain["statusCode"] == base64_post["statusCode"] == 200
    assert plain["body"] == base64_post["body"]
    problem(invoke("POST", "/query/fail", "not base64!", base64=True), 400)


@pytest.mark.parametrize("path", ["/query/failures", "/failed"])
def test_deprecated_paths(ecs: StubServer, path: str) -> None:
    response = invoke("POST", path, {"transaction_id": "tx_002"})
    assert response["statusCode"] == 200
    assert response["headers"]["Deprecation"] == "true"
    assert response["headers"]["Link"] == '</query/fail>; rel="successor-version"'
    assert ecs.seen[-1].path == "/query/fail"


def test_edge_validation_costs_no_ecs_call(ecs: StubServer) -> None:
    body = problem(invoke("POST", "/query/user", {"user_id": "x" * 129}), 400)
    assert body["errors"][0]["field"] == "user_id"
    problem(invoke("POST", "/query/user", "{not json"), 400)
    problem(invoke("GET", "/query/user", query={"user_id": ["a"], "limit": ["0"]}), 400)
    assert ecs.seen == []


def test_body_over_16_kib_is_413(ecs: StubServer) -> None:
    problem(invoke("POST", "/query/user", "x" * (20 * 1024)), 413)
    assert ecs.seen == []


def test_marketing_unknown_paths_and_methods(ecs: StubServer) -> None:
    assert "removed" in problem(invoke("POST", "/query/marketing", {}), 410)["detail"]
    problem(invoke("GET", "/query/nothing"), 404)
    response = invoke("DELETE", "/query/user")
    problem(response, 405)
    assert response["headers"]["Allow"] == "GET, POST"
    assert ecs.seen == []


def test_ecs_problems_pass_through(ecs: StubServer) -> None:
    upstream = {
        "type": "/problems/invalid-request",
        "title": "Invalid request",
        "status": 400,
        "detail": "The cursor is not valid for this query.",
        "request_id": "r",
    }
    ecs.reply = lambda _: Reply(400, upstream, content_type="application/problem+json")
    assert problem(invoke("POST", "/query/user", {"user_id": "u"}), 400) == upstream


def test_eks_handler_url_still_works_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with StubServer().running() as stub:
        stub.reply = lambda _: Reply(200, SUCCESS)
        monkeypatch.delenv("ECS_HANDLER_URL", raising=False)
        configure(monkeypatch, EKS_HANDLER_URL=stub.url)
        with caplog.at_level(logging.WARNING):
            assert invoke("POST", "/query/user", {"user_id": "u"})["statusCode"] == 200
        assert "EKS_HANDLER_URL is deprecated" in caplog.text
        assert len(stub.seen) == 1


def test_one_pooled_connection_serves_every_invocation(ecs: StubServer) -> None:
    for _ in range(5):
        assert invoke("POST", "/query/user", {"user_id": "u"})["statusCode"] == 200
    assert len(ecs.seen) == 5
    assert ecs.connections == 1  # a warm Lambda keeps its connection, not one per call


@pytest.mark.parametrize(
    "closing",
    [
        Reply(200, SUCCESS, headers={"Connection": "close"}),  # said so: not kept
        Reply(200, SUCCESS, hang_up=True),  # closed while idle: found dropped, not reused
    ],
)
def test_a_connection_the_ecs_handler_closed_is_not_reused(ecs: StubServer, closing: Reply) -> None:
    ecs.reply = lambda _: closing
    for _ in range(3):
        assert invoke("POST", "/query/user", {"user_id": "u"})["statusCode"] == 200
        assert ecs.closed.acquire(timeout=5)  # closed before the next call, as when idle
    assert ecs.connections == len(ecs.seen) == 3  # no call failed on a closed connection


def test_health_is_forwarded(ecs: StubServer) -> None:
    ecs.reply = lambda _: Reply(
        200, {"status": "healthy", "service": "query-service", "version": "0.1.0"}
    )
    response = invoke("GET", "/health")
    assert orjson.loads(response["body"])["status"] == "healthy"
    assert ecs.seen[-1].path == "/health"


def test_concurrent_invocations_keep_their_own_event_and_request_id(
    ecs: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local gateway runs a Lambda in many threads at once; Powertools keeps the
    current event on a class, so each invocation must still see only its own."""
    # What is checked is whose answer each invocation gets, not how fast: the fixture's
    # half-second deadline, met by a wide margin on a quiet machine, is not a margin on a
    # loaded one (a CI run saw 6 of 200 answers go wrong here, unreported).
    monkeypatch.setenv("REQUEST_TIMEOUT", "30")

    def echo(seen: Any) -> Reply:
        user = orjson.loads(seen.body)["user_id"]
        return Reply(200, SUCCESS | {"message": user}, delay=0.005)

    ecs.reply = echo

    def one(i: int) -> tuple[int, object, object, object] | None:
        response = invoke(
            "POST", "/query/user", {"user_id": f"u{i}"}, headers={"X-Request-ID": f"r{i}"}
        )
        message = orjson.loads(response["body"]).get("message")
        request_id = response["headers"].get("X-Request-ID")
        if (message, request_id) == (f"u{i}", f"r{i}"):
            return None
        return i, response["statusCode"], message, request_id  # what went wrong, shown

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a loaded gateway would
    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(one, range(200)))
    finally:
        sys.setswitchinterval(interval)
    assert [wrong for wrong in answers if wrong is not None] == []
    assert len(ecs.seen) == 200


def test_the_request_line_carries_the_upstream_time_even_when_the_call_failed(
    ecs: StubServer, caplog: pytest.LogCaptureFixture
) -> None:
    ecs.reply = lambda _: Reply(200, SUCCESS, delay=1.5)
    with caplog.at_level(logging.INFO):
        problem(invoke("POST", "/query/user", {"user_id": "u"}), 504)
    [line] = [r for r in caplog.records if r.getMessage() == "request"]
    assert line.status == 504  # type: ignore[attr-defined]
    assert 400 <= line.upstream_ms <= line.latency_ms  # type: ignore[attr-defined]


def test_every_method_of_a_path_is_in_allow(ecs: StubServer) -> None:
    for method in ("PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        response = invoke(method, "/query/tx")
        assert problem(response, 405)["detail"] == "This path accepts GET and POST only."
        assert response["headers"]["Allow"] == "GET, POST"
    response = invoke("POST", "/health")
    problem(response, 405)
    assert response["headers"]["Allow"] == "GET"
    # A removed query answers 410 to its own methods, 405 to the others, as the ECS
    # handler does (an API's Allow does not change because a path was retired).
    problem(invoke("GET", "/query/marketing"), 410)
    for method in ("DELETE", "TRACE"):
        response = invoke(method, "/query/marketing")
        assert problem(response, 405)["detail"] == "This path accepts GET and POST only."
        assert response["headers"]["Allow"] == "GET, POST"
    assert ecs.seen == []

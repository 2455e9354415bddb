"""The local API Gateway: proxy events in, proxy results out, API Gateway's own failures."""

from __future__ import annotations

import base64
import io
import logging
import threading
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from query_service.local.gateway import GatewayApp, GatewaySpec, Resource
from query_service.logs import JsonFormatter

SPEC = GatewaySpec(
    "test",
    "unused:unused",
    (Resource("POST", "/query/{kind}"), Resource("GET", "/health")),
    timeout=0.5,
)


def gateway(handler: Any, spec: GatewaySpec = SPEC) -> TestClient:
    return TestClient(GatewayApp(spec, handler))


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    echo.last = (event, context)  # type: ignore[attr-defined]
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}


def test_request_becomes_a_rest_proxy_event() -> None:
    with gateway(echo) as api:
        response = api.post(
            "/query/user?a=1&a=2&b=3", content=b'{"user_id":"u"}', headers={"X-Request-ID": "r1"}
        )
    assert response.status_code == 200
    event, context = echo.last  # type: ignore[attr-defined]
    assert event["resource"] == "/query/{kind}"
    assert event["path"] == "/query/user"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"kind": "user"}
    assert event["queryStringParameters"] == {"a": "2", "b": "3"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["3"]}
    assert event["headers"]["x-request-id"] == "r1"
    assert event["multiValueHeaders"]["x-request-id"] == ["r1"]
    assert event["body"] == '{"user_id":"u"}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["stage"] == "v1" and ctx["path"] == "/v1/query/user"
    assert ctx["identity"]["sourceIp"]
    assert ctx["requestId"] == response.headers["x-amzn-requestid"] == context.aws_request_id
    assert 0 < context.get_remaining_time_in_millis() <= 500


def test_no_query_string_is_null_as_in_api_gateway() -> None:
    with gateway(echo) as api:
        api.get("/health")
    event, _ = echo.last  # type: ignore[attr-defined]
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["body"] is None


def test_binary_body_arrives_base64_encoded() -> None:
    with gateway(echo) as api:
        api.post("/query/user", content=b"\xff\xfe")
    event, _ = echo.last  # type: ignore[attr-defined]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"


def test_unmatched_path_or_method_is_missing_authentication_token() -> None:
    with gateway(echo) as api:
        for response in (api.get("/nowhere"), api.get("/query/user")):
            assert response.status_code == 403
            assert response.json() == {"message": "Missing Authentication Token"}


def test_result_headers_and_base64_bodies_are_honoured() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain"},
            "multiValueHeaders": {"X-Many": ["a", "b"]},
            "body": base64.b64encode(b"hello").decode(),
            "isBase64Encoded": True,
        }

    with gateway(handler) as api:
        response = api.get("/health")
    assert response.status_code == 201
    assert response.content == b"hello"
    assert response.headers.get_list("x-many") == ["a", "b"]


@pytest.mark.parametrize(
    "result",
    [
        None,
        "text",
        {},
        {"statusCode": "200"},
        {"statusCode": 200, "body": {"a": 1}},
        {"statusCode": 99},
        {"statusCode": 200, "headers": {"X": {"nested": 1}}},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
    ],
)
def test_malformed_results_are_502(result: object) -> None:
    with gateway(lambda e, c: result) as api:
        response = api.get("/health")
    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}


def test_a_raising_handler_is_502_without_its_text() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("secret internal detail")

    with gateway(handler) as api:
        response = api.get("/health")
    assert response.status_code == 502
    assert "secret" not in response.text


def test_a_handler_past_the_integration_timeout_is_504() -> None:
    release, returned = threading.Event(), threading.Event()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        release.wait(30)
        returned.set()
        return {"statusCode": 200, "body": "late"}

    try:
        with gateway(handler) as api:
            response = api.get("/health")
            answered_first = not returned.is_set()  # the handler is still running
    finally:
        release.set()
    assert response.status_code == 504
    assert response.json() == {"message": "Endpoint request timed out"}
    assert answered_first


def test_each_integration_leaves_one_json_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's line, as a developer greps it: tier, route, status, both ids."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("gateway_test", "query-service"))
    gateway_log = logging.getLogger("query_service.gateway")
    monkeypatch.setattr(gateway_log, "handlers", [handler])
    monkeypatch.setattr(gateway_log, "propagate", False)
    monkeypatch.setattr(gateway_log, "level", logging.INFO)
    with gateway(echo) as api:
        response = api.post("/query/user", content=b"{}", headers={"X-Request-ID": "r-42"})
        api.post("/nowhere", content=b"{}")
    ok, missing = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert ok["message"] == "integration" and ok["tier"] == "gateway_test"
    assert (ok["method"], ok["route"], ok["status"]) == ("POST", "/query/user", 200)
    assert ok["request_id"] == "r-42"
    assert ok["apigw_request_id"] == response.headers["x-amzn-requestid"]
    assert ok["latency_ms"] >= 0
    assert (missing["route"], missing["status"], missing["request_id"]) == ("/nowhere", 403, None)

"""Oversized URLs and headers are refused at both edges with problem+json; every Lambda
invocation leaves one CloudWatch EMF line with its latency, errors and counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from query_service.config import Settings
from query_service.domain.queries import MAX_HEADER_BYTES, MAX_URL_CHARS
from query_service.ecs.app import create_app
from query_service.lambdas import query_entry, query_result, stream_processor
from tests.component.conftest import Tables
from tests.component.test_stream_processor import change
from tests.support import FakeContext, Reply, StubServer, apigw_event, command, record


@pytest.fixture
def upstream() -> Iterator[StubServer]:
    with StubServer().running() as stub:
        stub.reply = lambda _: Reply(200, {"items": [record()], "next_cursor": None})
        yield stub


def test_ecs_refuses_a_long_url_and_large_headers(upstream: StubServer) -> None:
    with TestClient(create_app(Settings(internal_api_url=upstream.url))) as api:
        fits = api.get("/query/user", params={"user_id": "u", "ap_id": "a" * 100})
        assert fits.status_code == 200
        long_url = api.get("/query/user", params={"user_id": "u", "x": "a" * MAX_URL_CHARS})
        big_headers = api.get(
            "/query/user", params={"user_id": "u"}, headers={"X-Big": "b" * MAX_HEADER_BYTES}
        )
    for response, status in ((long_url, 414), (big_headers, 431)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status and response.json()["request_id"]
    assert len(upstream.seen) == 1  # neither refused request went upstream


@pytest.fixture
def entry(monkeypatch: pytest.MonkeyPatch, upstream: StubServer) -> StubServer:
    monkeypatch.setenv("ECS_HANDLER_URL", upstream.url)
    return upstream


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_the_query_lambda_refuses_oversized_requests(entry: StubServer) -> None:
    long_url = apigw_event("GET", "/query/user", query={"user_id": ["u"], "x": ["a" * 5000]})
    big_headers = apigw_event(
        "GET", "/query/user", query={"user_id": ["u"]}, headers={"X-Big": "b" * 9000}
    )
    for event, status in ((long_url, 414), (big_headers, 431)):
        response = query_entry.lambda_handler(event, FakeContext())
        assert response["statusCode"] == status
        assert orjson.loads(response["body"])["status"] == status
    assert entry.seen == []


def test_the_query_lambda_publishes_latency_and_errors(
    entry: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    entry.reply = lambda _: Reply(500, "boom", content_type="text/plain")
    capsys.readouterr()
    event = apigw_event("POST", "/query/user", orjson.dumps({"user_id": "u"}).decode())
    response = query_entry.lambda_handler(event, FakeContext())
    assert response["statusCode"] == 502
    [line] = emf_lines(capsys.readouterr().out)
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "QueryService"
    assert (line["service"], line["route"]) == ("query-entry", "/query/user")
    assert line["Errors"] == [1.0] and line["ClientErrors"] == [0.0]
    assert line["Latency"][0] > 0
    assert line["request_id"] == response["headers"]["X-Request-ID"]


def test_unknown_paths_share_one_metric_dimension(
    entry: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    for path in ("/wp-admin", "/query/nope"):
        query_entry.lambda_handler(apigw_event("GET", path), FakeContext())
    assert [line["route"] for line in emf_lines(capsys.readouterr().out)] == ["other", "other"]


def test_the_query_result_lambda_publishes_items_returned(
    tables: Tables, capsys: pytest.CaptureFixture[str]
) -> None:
    tables.put(command(), command(transaction_id="tx_002"))
    capsys.readouterr()
    event = apigw_event("POST", "/query/user", orjson.dumps({"user_id": "test_user_001"}).decode())
    event["resource"], event["pathParameters"] = "/query/{kind}", {"kind": "user"}
    response = query_result.lambda_handler(event, FakeContext())  # type: ignore[arg-type]
    assert response["statusCode"] == 200
    [line] = emf_lines(capsys.readouterr().out)
    assert (line["service"], line["ItemsReturned"], line["Errors"]) == (
        "query-result",
        [2.0],
        [0.0],
    )


def test_the_stream_processor_publishes_processed_and_failed(
    tables: Tables, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    bad = command(user_id="u2")
    bad["status"] = "BOUNCED"
    event = {"Records": [change("INSERT", new=command(), seq=1), change("INSERT", new=bad, seq=2)]}
    stream_processor.lambda_handler(event, FakeContext())  # type: ignore[arg-type]
    out = capsys.readouterr().out
    [line] = emf_lines(out)
    assert (line["RecordsProcessed"], line["RecordsFailed"]) == ([1.0], [1.0])
    assert "secret-device-token" not in out

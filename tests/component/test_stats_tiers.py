"""/query/stats through the Query Lambda and the ECS handler, each against a real HTTP
server standing in for the tier behind it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from query_service.domain.statistics import daily, funnel
from tests.component.test_ecs_app import assert_problem, client_for
from tests.component.test_query_entry_lambda import configure, invoke, problem
from tests.support import Reply, StubServer

FUNNEL = funnel("tx_002", [{"n": 2, "s#FAILED": 1, "s#SENT": 1, "p#IOS": 2, "e#x": 1}], 7)
SERIES = daily("mobile-app-001", ["2026-11-30", "2026-12-01"], {})


@pytest.fixture
def internal() -> Iterator[StubServer]:
    with StubServer().running() as stub:
        yield stub


@pytest.fixture
def api(internal: StubServer) -> Iterator[TestClient]:
    with client_for(internal.url) as client:
        yield client


def test_ecs_handler_answers_a_transactions_funnel_by_get_and_post(
    api: TestClient, internal: StubServer
) -> None:
    internal.reply = lambda _: Reply(200, {"stats": FUNNEL})
    post = api.post(
        "/query/stats", json={"transaction_id": "tx_002"}, headers={"X-Request-ID": "r1"}
    )
    get = api.get("/query/stats", params={"transaction_id": "tx_002"})
    assert post.status_code == get.status_code == 200
    assert post.json() == get.json()
    assert post.json() == {
        "success": True,
        "data": FUNNEL,
        "message": "Statistics of transaction tx_002",
    }
    assert post.headers["x-request-id"] == "r1"
    assert [(s.path, orjson.loads(s.body)) for s in internal.seen] == [
        ("/query/stats", {"transaction_id": "tx_002"})
    ] * 2


def test_ecs_handler_forwards_days_defaulted(api: TestClient, internal: StubServer) -> None:
    internal.reply = lambda _: Reply(200, {"stats": SERIES})
    response = api.get("/query/stats", params={"ap_id": "mobile-app-001"})
    assert response.status_code == 200
    assert response.json()["data"] == SERIES
    assert orjson.loads(internal.seen[-1].body) == {"ap_id": "mobile-app-001", "days": 7}


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, {"items": [], "next_cursor": None}),  # a records answer to a stats query
        Reply(200, {"stats": {"transaction_id": "t", "total": "2"}}),
        Reply(200, {"stats": FUNNEL | {"top_errors": [{"error_msg": "x"}]}}),
        Reply(200, {"stats": []}),
    ],
)
def test_ecs_handler_relays_no_statistics_it_does_not_understand(
    api: TestClient, internal: StubServer, reply: Reply
) -> None:
    internal.reply = lambda _: reply
    assert_problem(api.post("/query/stats", json={"transaction_id": "tx_002"}), 502)


def test_ecs_handler_refuses_bad_stats_input_without_a_call(
    api: TestClient, internal: StubServer
) -> None:
    body = assert_problem(api.get("/query/stats", params={"ap_id": "a", "days": "91"}), 400)
    assert body["errors"] == [{"field": "days", "message": "must be between 1 and 90"}]
    assert_problem(api.post("/query/stats", json={"ap_id": "a", "transaction_id": "t"}), 400)
    assert internal.seen == []


def test_ecs_handler_documents_the_stats_answer(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    post = document["paths"]["/query/stats"]["post"]
    schema = post["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/StatsResponse")
    names = {p["name"] for p in document["paths"]["/query/stats"]["get"]["parameters"]}
    assert names == {"transaction_id", "ap_id", "days"}


@pytest.fixture
def ecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubServer]:
    with StubServer().running() as stub:
        configure(monkeypatch, ECS_HANDLER_URL=stub.url, REQUEST_TIMEOUT="0.5")
        yield stub


def test_query_lambda_forwards_stats_normalised(ecs: StubServer) -> None:
    answer: dict[str, Any] = {"success": True, "data": SERIES, "message": "m"}
    ecs.reply = lambda _: Reply(200, answer)
    response = invoke(
        "GET",
        "/query/stats",
        query={"ap_id": ["mobile-app-001"], "days": ["2"]},
        headers={"X-Request-ID": "r2"},
    )
    assert response["statusCode"] == 200
    assert orjson.loads(response["body"]) == answer
    assert response["headers"]["X-Request-ID"] == "r2"
    seen = ecs.seen[-1]
    assert (seen.method, seen.path) == ("POST", "/query/stats")
    assert orjson.loads(seen.body) == {"ap_id": "mobile-app-001", "days": 2}


def test_query_lambda_refuses_bad_stats_input_at_the_edge(ecs: StubServer) -> None:
    body = problem(invoke("POST", "/query/stats", {"transaction_id": "t", "days": 3}), 400)
    assert body["errors"][0]["field"] == "days"
    problem(invoke("DELETE", "/query/stats"), 405)
    assert ecs.seen == []

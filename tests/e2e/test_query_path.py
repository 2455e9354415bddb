"""The brief's calls and the acceptance points, through every tier of the running stack."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest

from query_service.local.processes import poll_until
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e
JSON = {"content-type": "application/json"}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["success"] is False
    assert body["request_id"] == response.headers["x-request-id"]
    for leak in ("Traceback", "127.0.0.1", "localhost", "Exception", "botocore"):
        assert leak not in response.text
    return body


def test_user_query_of_the_brief(public: httpx.Client) -> None:
    response = public.post("/query/user", json={"user_id": "test_user_001", "limit": 10})
    assert response.status_code == 200
    body = response.json()
    records = body["data"]
    assert body["success"] is True
    assert body["total_count"] == len(records) > 0
    assert {r["user_id"] for r in records} == {"test_user_001"}
    times = [r["created_at"] for r in records]
    assert times == sorted(times, reverse=True)
    assert all("ap_id" in r for r in records)
    assert all("device_token" not in r and "payload" not in r for r in records)
    failed = [r for r in records if r["transaction_id"] == "tx_002"]
    assert failed[0]["status"] == "FAILED"
    assert failed[0]["ap_id"] == "mobile-app-002"


def test_fail_query_of_the_brief_post_and_get(public: httpx.Client) -> None:
    post = public.post("/query/fail", json={"transaction_id": "tx_002"})
    get = public.get("/query/fail", params={"transaction_id": "tx_002"})
    assert post.status_code == get.status_code == 200
    assert post.json() == get.json()
    records = post.json()["data"]
    assert [(r["user_id"], r["status"], r["error_msg"]) for r in records] == [
        ("test_user_001", "FAILED", "Device token invalid")
    ]


def test_tx_query_returns_every_delivery(public: httpx.Client) -> None:
    records = public.get("/query/tx", params={"transaction_id": "tx_002"}).json()["data"]
    assert {(r["user_id"], r["status"]) for r in records} == {
        ("test_user_001", "FAILED"),
        ("test_user_002", "DELIVERED"),
    }


def test_ecs_health_marketing_and_deprecated_paths(stack: Stack, public: httpx.Client) -> None:
    health = httpx.get(f"{stack.ecs}/health").json()
    assert health["status"] == "healthy"
    assert httpx.get(f"{stack.ecs}/health/ready").status_code == 200
    for base in (stack.public, stack.ecs):
        assert "removed" in problem(httpx.post(f"{base}/query/marketing", json={}), 410)["detail"]
    old = public.post("/query/failures", json={"transaction_id": "tx_002"})
    assert old.headers["deprecation"] == "true"
    assert old.headers["link"] == '</query/fail>; rel="successor-version"'
    assert old.json() == public.post("/query/fail", json={"transaction_id": "tx_002"}).json()


def test_limit_one_walks_a_user_to_the_end_once_each(public: httpx.Client) -> None:
    everything = public.post("/query/user", json={"user_id": "test_user_001", "limit": 100})
    expected = [(r["transaction_id"], r["created_at"]) for r in everything.json()["data"]]
    seen, cursor, pages = [], None, 0
    while True:
        body: dict[str, Any] = {"user_id": "test_user_001", "limit": 1}
        if cursor:
            body["cursor"] = cursor
        page = public.post("/query/user", json=body).json()
        pages += 1
        seen += [(r["transaction_id"], r["created_at"]) for r in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 200
    assert seen == expected
    assert len(set(seen)) == len(seen) > 5


def test_tampered_or_foreign_cursor_is_400(public: httpx.Client) -> None:
    first = public.post("/query/user", json={"user_id": "test_user_001", "limit": 1}).json()
    cursor = first["next_cursor"]
    head, _, sig = cursor.partition(".")
    forged = f"{head}.{sig[::-1]}"
    body = problem(
        public.post("/query/user", json={"user_id": "test_user_001", "cursor": forged}), 400
    )
    assert body["errors"][0]["field"] == "cursor"
    problem(public.post("/query/user", json={"user_id": "test_user_002", "cursor": cursor}), 400)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"{}", "user_id"),
        (b'{"user_id": 7}', "user_id"),
        (b'{"user_id": "u", "limit": 0}', "limit"),
        (b'{"user_id": "u", "limit": 101}', "limit"),
        (orjson.dumps({"user_id": "u" * 129}), "user_id"),
        (b'{"user_id": "rm -rf /"}', "user_id"),
        (b'{"user_id": "u", "surprise": 1}', "surprise"),
        (b'{"user_id": "u"', "body"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    public: httpx.Client, payload: bytes, field: str
) -> None:
    body = problem(public.post("/query/user", content=payload, headers=JSON), 400)
    assert field in {e["field"] for e in body["errors"]}


def test_oversized_body_is_413(public: httpx.Client) -> None:
    problem(public.post("/query/user", content=b" " * (20 * 1024), headers=JSON), 413)


def test_one_request_id_is_seen_by_all_five_tiers(stack: Stack, public: httpx.Client) -> None:
    request_id = f"e2e-{uuid.uuid4()}"
    response = public.post(
        "/query/user", json={"user_id": "test_user_002"}, headers={"X-Request-ID": request_id}
    )
    assert response.headers["x-request-id"] == request_id
    wanted = {"gateway_public", "query_entry", "ecs_handler", "gateway_internal", "query_result"}
    tiers: set[str] = set()
    metrics_seen: set[str] = set()

    def every_tier_logged() -> bool:
        tiers.clear()
        for line in stack.logs().splitlines():
            if request_id in line and line.startswith("{"):
                entry = orjson.loads(line)
                if "_aws" in entry:  # an EMF metrics line, with the id as metadata
                    metrics_seen.add(entry["service"])
                else:
                    tiers.add(entry["tier"])
        return tiers == wanted

    poll_until(every_tier_logged, 10)
    assert tiers == wanted
    assert metrics_seen == {"query-entry", "query-result"}


def test_oversized_url_and_headers_are_refused_cleanly(public: httpx.Client) -> None:
    long_url = public.get("/query/user", params={"user_id": "u", "x": "a" * 5000})
    big_headers = public.get("/query/user", params={"user_id": "u"}, headers={"X-Big": "b" * 9000})
    for response, status in ((long_url, 414), (big_headers, 431)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status


def test_request_log_lines_carry_route_status_latency_and_upstream_latency(
    stack: Stack, public: httpx.Client
) -> None:
    request_id = f"e2e-obs-{uuid.uuid4()}"
    public.post(
        "/query/fail", json={"transaction_id": "tx_002"}, headers={"X-Request-ID": request_id}
    )
    wanted = {"query_entry", "ecs_handler", "query_result"}
    calling = {"query_entry", "ecs_handler"}  # the tiers that call an upstream of their own
    found: dict[str, dict[str, object]] = {}

    def both_logged() -> bool:
        for line in stack.logs().splitlines():
            if request_id in line and '"message":"request"' in line:
                entry = orjson.loads(line)
                found[entry["tier"]] = entry
        return set(found) == wanted

    poll_until(both_logged, 10)
    assert set(found) == wanted
    for tier, entry in found.items():
        assert entry["route"] == "/query/fail" and entry["status"] == 200
        assert isinstance(entry["latency_ms"], float)
        if tier in calling:
            assert isinstance(entry["upstream_ms"], float)
            assert entry["upstream_ms"] <= entry["latency_ms"]

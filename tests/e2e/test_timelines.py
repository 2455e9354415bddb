"""Timelines, filters and retention through every tier of the running stack (DynamoDB Local)."""

from __future__ import annotations

import time
from typing import Any

import boto3
import httpx
import pytest

from query_service.storage.dynamo import from_item, to_item
from query_service.storage.projection import DAY_SECONDS, DEFAULT_RETENTION_DAYS, sort_key
from tests.e2e.conftest import Stack
from tests.support import command

pytestmark = pytest.mark.e2e

DAY_MS = DAY_SECONDS * 1000


def eventually(probe: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (answer := probe()):
        assert time.monotonic() < deadline, f"nothing after {timeout} s"
        time.sleep(0.05)
    return answer


def data(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["data"]
    return records


def test_a_record_past_its_expiry_is_returned_by_no_query(
    stack: Stack, public: httpx.Client
) -> None:
    """DynamoDB Local never sweeps expired items: the queries themselves must leave them out."""
    client = boto3.client("dynamodb", endpoint_url=stack.dynamodb)
    now = int(time.time() * 1000)
    user, tx = "e2e_expiry_user", "tx_e2e_expiry"
    expired = command(
        transaction_id=tx,
        user_id=user,
        created_at=now - (DEFAULT_RETENTION_DAYS + 1) * DAY_MS,
        status="FAILED",
        error_msg="Device token invalid",
    )
    kept = command(transaction_id=f"{tx}_kept", user_id=user, created_at=now, status="SENT")
    for item in (expired, kept):
        client.put_item(TableName="command-records", Item=to_item(item))

    def projected() -> dict[str, Any] | None:
        key = {"user_id": user, "sk": sort_key(expired["created_at"], tx)}
        found = client.get_item(TableName="notification-records", Key=to_item(key))
        return from_item(found["Item"]) if "Item" in found else None

    stored = eventually(projected)  # the stream tier projected it, already expired
    assert stored["expires_at"] < time.time()
    listed = eventually(lambda: data(public.get("/query/user", params={"user_id": user})))
    assert [r["transaction_id"] for r in listed] == [f"{tx}_kept"]
    for path, params in (
        ("/query/tx", {"transaction_id": tx}),
        ("/query/fail", {"transaction_id": tx}),
        ("/query/user", {"user_id": user, "status": "FAILED"}),
    ):
        assert data(public.get(path, params=params)) == [], path


def test_the_demo_failure_shows_sent_then_failed_with_its_reason(public: httpx.Client) -> None:
    params = {"transaction_id": "tx_002", "user_id": "test_user_001"}
    [delivery] = data(public.get("/query/delivery", params=params))
    assert (delivery["status"], delivery["error_msg"]) == ("FAILED", "Device token invalid")
    events = delivery["events"]
    assert [(e["status"], e["error_msg"]) for e in events] == [
        ("SENT", None),
        ("FAILED", "Device token invalid"),
    ]
    assert events[0]["at"] == delivery["created_at"] < events[1]["at"] == delivery["updated_at"]
    assert delivery["events_truncated"] is False
    assert data(public.post("/query/delivery", json=params)) == [delivery]


def test_a_late_receipt_joins_the_timeline_in_its_place(public: httpx.Client) -> None:
    """tx_003's send confirmation to test_user_003 came after its delivery receipt."""
    params = {"transaction_id": "tx_003", "user_id": "test_user_003"}
    [delivery] = data(public.get("/query/delivery", params=params))
    assert delivery["status"] == "DELIVERED"
    assert [e["status"] for e in delivery["events"]] == ["SENT", "DELIVERED"]
    retried = data(
        public.get(
            "/query/delivery", params={"transaction_id": "tx_004", "user_id": "test_user_001"}
        )
    )[0]
    assert [(e["status"], e["error_msg"]) for e in retried["events"]] == [
        ("SENT", None),
        ("FAILED", "Network timeout"),
        ("SENT", None),
        ("DELIVERED", None),
    ]


def test_no_such_delivery_is_a_404_problem_through_every_tier(public: httpx.Client) -> None:
    response = public.get("/query/delivery", params={"transaction_id": "tx_002", "user_id": "x"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "tx_002" in response.json()["detail"]
    bad = public.get("/query/delivery", params={"transaction_id": "tx_002"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "user_id"


def test_status_and_platform_filters_through_every_tier(public: httpx.Client) -> None:
    user = {"user_id": "test_user_001", "limit": 100}
    everything = data(public.get("/query/user", params=user))
    failed = data(public.get("/query/user", params={**user, "status": "FAILED"}))
    assert failed and {r["status"] for r in failed} == {"FAILED"}
    both = data(
        public.get(
            "/query/user", params=[*user.items(), ("status", "DELIVERED"), ("status", "FAILED")]
        )
    )
    assert [r for r in everything if r["status"] != "SENT"] == both
    assert {r["status"] for r in both} == {"DELIVERED", "FAILED"}
    tx = data(
        public.get("/query/tx", params={"transaction_id": "tx_001", "platform": "IOS,ANDROID"})
    )
    assert tx and {r["platform"] for r in tx} <= {"IOS", "ANDROID"}
    fail = data(public.post("/query/fail", json={"transaction_id": "tx_002", "platform": ["IOS"]}))
    assert fail == []
    for path, params, field in (
        ("/query/user", {"user_id": "test_user_001", "status": "LOST"}, "status"),
        ("/query/tx", {"transaction_id": "tx_001", "platform": "IOS,FAX"}, "platform"),
        ("/query/fail", {"transaction_id": "tx_001", "status": "FAILED"}, "status"),
    ):
        response = public.get(path, params=params)
        assert response.status_code == 400, path
        assert [e["field"] for e in response.json()["errors"]] == [field]


def test_paging_a_filtered_query_returns_every_match_once(public: httpx.Client) -> None:
    query = {"user_id": "test_user_001", "status": ["DELIVERED", "FAILED"]}
    wanted = data(public.post("/query/user", json={**query, "limit": 100}))
    seen: list[dict[str, Any]] = []
    body: dict[str, Any] = {**query, "limit": 1}
    for _ in range(len(wanted) + 2):
        page = public.post("/query/user", json=body).json()
        seen += page["data"]
        if page["next_cursor"] is None:
            break
        body["cursor"] = page["next_cursor"]
    assert seen == wanted and len(wanted) > 2
    other = public.post("/query/user", json={**query, "status": "FAILED", "cursor": body["cursor"]})
    assert other.status_code == 400 and other.json()["errors"][0]["field"] == "cursor"

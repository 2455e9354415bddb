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

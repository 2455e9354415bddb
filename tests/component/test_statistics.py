"""The statistics read model against moto: counter writes in one transaction with the read
item, and reads whose cost does not grow with the transaction."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from query_service.domain.statistics import Scope
from query_service.lambdas import query_result
from query_service.storage.statistics import (
    COUNTER_GRACE_SECONDS,
    SHARDS,
    StatsRepository,
    counter_key,
    counter_updates,
    shard_of,
)
from query_service.storage.tables import STATS_TABLE
from tests.component.conftest import Tables
from tests.support import FakeContext, apigw_event

NOW_MS = int(time.time() * 1000)
# The UTC day the deliveries below are created on. A reader's series ends on the day of its
# own clock, which is a day later if midnight passed since this module was imported.
CREATED_DAY = datetime.fromtimestamp(NOW_MS / 1000, UTC).date().isoformat()


def utc_today() -> str:
    return datetime.now(UTC).date().isoformat()


def delivery(user: str, status: str = "SENT", **extra: Any) -> dict[str, Any]:
    return {
        "transaction_id": "tx_big",
        "user_id": user,
        "created_at": NOW_MS,
        "status": status,
        "platform": ["IOS", "ANDROID", "WEBPUSH"][int(user[1:]) % 3],
        "ap_id": "mobile-app-001",
        "error_msg": None,
        "expires_at": NOW_MS // 1000 + 86_400,
    } | extra


def move(tables: Tables, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    updates = counter_updates(STATS_TABLE, before, after)
    if updates:
        tables.client.transact_write_items(TransactItems=updates)


def test_counts_follow_inserts_status_changes_and_removals(tables: Tables) -> None:
    users = [f"u{i}" for i in range(20)]
    for user in users:
        move(tables, None, delivery(user))
    for user in users[:5]:
        move(tables, delivery(user), delivery(user, "DELIVERED"))
    for user in users[5:8]:
        failed = delivery(user, "FAILED", error_msg="Device token invalid")
        move(tables, delivery(user), failed)
    move(tables, delivery("u8"), delivery("u8", "FAILED", error_msg="Network timeout"))
    move(tables, delivery("u19"), None)  # deleted
    stats = StatsRepository(tables.client, STATS_TABLE)
    funnel = stats.transaction("tx_big")
    assert funnel["total"] == 19
    assert funnel["by_status"] == {"SENT": 10, "DELIVERED": 5, "FAILED": 4}
    assert sum(funnel["by_platform"].values()) == 19
    assert funnel["top_errors"] == [
        {"error_msg": "Device token invalid", "count": 3},
        {"error_msg": "Network timeout", "count": 1},
    ]
    assert abs(funnel["as_of"] - int(time.time() * 1000)) < 60_000
    asked_on = utc_today()
    days = stats.application("mobile-app-001", 7)["days"]
    assert days[-1]["day"] in {asked_on, utc_today()}
    assert CREATED_DAY in [d["day"] for d in days]
    assert [d["total"] for d in days] == [19 if d["day"] == CREATED_DAY else 0 for d in days]
    [created] = [d for d in days if d["day"] == CREATED_DAY]
    assert created["by_status"] == funnel["by_status"]


def test_the_deliveries_spread_over_the_shards(tables: Tables) -> None:
    shards = {shard_of("tx_big", f"u{i}") for i in range(200)}
    assert shards == set(range(SHARDS))
    assert shard_of("tx_big", "u1") == shard_of("tx_big", "u1")


def test_a_read_is_one_batch_get_whatever_the_transaction_size(tables: Tables) -> None:
    stats = StatsRepository(tables.client, STATS_TABLE)
    for size in (1, 50):
        tables.calls.clear()
        for i in range(size):
            move(tables, None, delivery(f"u{i}") | {"transaction_id": f"tx_{size}"})
        tables.calls.clear()
        assert stats.transaction(f"tx_{size}")["total"] == size
        assert tables.calls == ["BatchGetItem"]
    tables.calls.clear()
    stats.application("mobile-app-001", 90)  # 90 days x 16 shards = 1,440 keys
    assert tables.calls == ["BatchGetItem"] * -(-90 * SHARDS // 100)


def test_a_counter_item_past_its_ttl_is_not_counted(tables: Tables) -> None:
    move(tables, None, delivery("u1", expires_at=1))  # long expired, not yet swept
    assert StatsRepository(tables.client, STATS_TABLE).transaction("tx_big")["total"] == 0


def test_counter_items_say_what_they_count(tables: Tables) -> None:
    move(tables, None, delivery("u3"))
    key = counter_key(Scope.transaction("tx_big"), shard_of("tx_big", "u3"))
    item = tables.client.get_item(TableName=STATS_TABLE, Key={"pk": {"S": key}})["Item"]
    assert item["transaction_id"] == {"S": "tx_big"}
    assert int(item["expires_at"]["N"]) > NOW_MS // 1000 + 86_400


def counter_ttl(tables: Tables, user: str) -> int:
    key = counter_key(Scope.transaction("tx_big"), shard_of("tx_big", user))
    item = tables.client.get_item(TableName=STATS_TABLE, Key={"pk": {"S": key}})["Item"]
    return int(item["expires_at"]["N"])


def test_a_counter_outlives_every_delivery_it_counts_whatever_the_order() -> None:
    """An older delivery projected after a newer one in the same shard (a backfill, a
    replay, a re-send of an old delivery) must not bring the counter's expiry below the
    newer delivery's: the reader would then drop counts of a delivery still kept."""
    retention = 90 * 86_400
    now = NOW_MS // 1000
    new = delivery("u1", expires_at=now + retention)
    old = delivery(
        "u1", created_at=NOW_MS - 60 * 86_400_000, expires_at=now - 60 * 86_400 + retention
    )
    for first, second in ((new, old), (old, new)):
        ttls = []
        for item in (first, second):
            (update,) = [
                u
                for u in counter_updates(STATS_TABLE, None, item, now=now)
                if u["Update"]["Key"]["pk"]["S"].startswith("tx#")
            ]
            ttls.append(int(update["Update"]["ExpressionAttributeValues"][":ttl"]["N"]))
        assert min(ttls) >= new["expires_at"] + COUNTER_GRACE_SECONDS


def test_a_counter_touched_later_keeps_the_later_expiry(tables: Tables) -> None:
    """Through moto: a delivery created 30 days ago, in the same shard as one created now,
    changes after it; the counter item's expiry does not go down."""
    move(tables, None, delivery("u2"))
    first = counter_ttl(tables, "u2")
    shard = shard_of("tx_big", "u2")
    other = next(u for u in (f"u{i}" for i in range(3, 999)) if shard_of("tx_big", u) == shard)
    month_ago = NOW_MS - 30 * 86_400_000
    older = delivery(other, created_at=month_ago, expires_at=month_ago // 1000 + 86_400)
    move(tables, None, older)
    move(tables, older, older | {"status": "DELIVERED"})
    assert counter_ttl(tables, "u2") >= first


@pytest.fixture
def lam(tables: Tables) -> Iterator[Tables]:
    query_result._stats.cache_clear()
    yield tables
    query_result._stats.cache_clear()


def call(body: object) -> dict[str, Any]:
    event = apigw_event(
        "POST", "/query/stats", orjson.dumps(body).decode(), resource="/query/{kind}"
    )
    event["pathParameters"] = {"kind": "stats"}
    return query_result.lambda_handler(event, FakeContext())  # type: ignore[arg-type]


def test_query_result_lambda_answers_stats(lam: Tables) -> None:
    move(lam, None, delivery("u1", "FAILED", error_msg="Device token invalid"))
    response = call({"transaction_id": "tx_big"})
    assert response["statusCode"] == 200
    stats = orjson.loads(response["body"])["stats"]
    assert stats["by_status"]["FAILED"] == 1
    assert stats["top_errors"] == [{"error_msg": "Device token invalid", "count": 1}]
    series = orjson.loads(call({"ap_id": "mobile-app-001", "days": 3})["body"])["stats"]
    days = series["days"]
    assert CREATED_DAY in [d["day"] for d in days]
    assert [d["total"] for d in days] == [1 if d["day"] == CREATED_DAY else 0 for d in days]


def test_query_result_lambda_refuses_a_bad_stats_query(lam: Tables) -> None:
    response = call({"transaction_id": "tx_big", "ap_id": "mobile-app-001"})
    assert response["statusCode"] == 400
    assert orjson.loads(response["body"])["errors"][0]["field"] == "ap_id"

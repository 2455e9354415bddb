"""ReadRepository against moto: ordering, windows, filters, paging, and its read cost."""

from __future__ import annotations

from typing import Any

import pytest

from query_service.domain.queries import DeliveryQuery, FailQuery, Query, TxQuery, UserQuery
from query_service.domain.records import Platform, Status
from query_service.domain.timeline import Event, Timeline
from query_service.storage.dynamo import to_item
from query_service.storage.projection import project_record
from query_service.storage.repository import (
    FILTERED_READ_SIZE,
    MAX_FILTERED_READS,
    ReadRepository,
    StartKeyMismatch,
    StoredRecordError,
)
from tests.component.conftest import KEPT_DAYS, Tables
from tests.support import command

T0 = 1_700_000_000_000
DAY = 86_400_000


def repo(tables: Tables) -> ReadRepository:
    return ReadRepository(tables.client, "notification-records")


def walk(repository: ReadRepository, query: Query) -> tuple[list[Any], int]:
    """Every page to the end; returns the records and the number of pages."""
    records, start, pages = [], None, 0
    while True:
        page = repository.page(query, start)
        pages += 1
        records.extend(page.records)
        start = page.last_key
        if start is None:
            return records, pages


def test_user_records_come_newest_first(tables: Tables) -> None:
    tables.put(*(command(transaction_id=f"tx_{i}", created_at=T0 + i) for i in range(5)))
    page = repo(tables).page(UserQuery(user_id="test_user_001"))
    assert [r.transaction_id for r in page.records] == [f"tx_{i}" for i in (4, 3, 2, 1, 0)]
    assert page.last_key is None


def test_same_millisecond_deliveries_are_both_kept(tables: Tables) -> None:
    tables.put(command(transaction_id="tx_a"), command(transaction_id="tx_b"))
    page = repo(tables).page(UserQuery(user_id="test_user_001"))
    assert {r.transaction_id for r in page.records} == {"tx_a", "tx_b"}


def test_since_and_until_are_inclusive_millisecond_bounds(tables: Tables) -> None:
    tables.put(*(command(transaction_id=f"tx_{i}", created_at=T0 + i) for i in range(10)))
    r = repo(tables)

    def ids(**window: int) -> list[int]:
        page = r.page(UserQuery(user_id="test_user_001", **window))
        return sorted(int(x.transaction_id[3:]) for x in page.records)

    assert ids(since=T0 + 3, until=T0 + 5) == [3, 4, 5]
    assert ids(since=T0 + 8) == [8, 9]
    assert ids(until=T0 + 1) == [0, 1]


def test_paging_walks_every_record_once_at_one_query_per_page(tables: Tables) -> None:
    tables.put(*(command(transaction_id=f"tx_{i:02d}", created_at=T0 + i) for i in range(7)))
    tables.calls.clear()
    records, pages = walk(repo(tables), UserQuery(user_id="test_user_001", limit=2))
    assert [r.transaction_id for r in records] == [f"tx_{i:02d}" for i in range(6, -1, -1)]
    assert tables.calls == ["Query"] * pages
    assert "Scan" not in tables.calls


def test_fail_reads_only_failed_records_of_the_transaction(tables: Tables) -> None:
    tables.put(
        command(user_id="u1", status="FAILED", error_msg="Device token invalid"),
        command(user_id="u2", status="DELIVERED"),
        command(user_id="u3", status="FAILED", error_msg="Network timeout", created_at=T0 + 5),
        command(user_id="u4", transaction_id="tx_other", status="FAILED", error_msg="x"),
    )
    tables.calls.clear()
    page = repo(tables).page(FailQuery(transaction_id="tx_001"))
    assert [(r.user_id, r.error_msg) for r in page.records] == [
        ("u3", "Network timeout"),
        ("u1", "Device token invalid"),
    ]
    assert tables.calls == ["Query"]


def test_tx_reads_every_delivery_of_the_transaction(tables: Tables) -> None:
    tables.put(*(command(user_id=f"u{i}", created_at=T0 + i, status="SENT") for i in range(4)))
    tables.put(command(user_id="u9", transaction_id="tx_other"))
    records, _ = walk(repo(tables), TxQuery(transaction_id="tx_001", limit=3))
    assert [r.user_id for r in records] == ["u3", "u2", "u1", "u0"]


@pytest.mark.parametrize("limit", [1, 3, 50])
def test_ap_id_filter_fills_pages_and_walks_to_the_end(tables: Tables, limit: int) -> None:
    deliveries = [
        command(
            transaction_id=f"tx_{i:03d}",
            created_at=T0 + i,
            ap_id="web-portal-001" if i % 37 == 0 else "mobile-app-001",
        )
        for i in range(3 * FILTERED_READ_SIZE)
    ]
    tables.put(*deliveries)
    wanted = [d["transaction_id"] for d in reversed(deliveries) if d["ap_id"] == "web-portal-001"]
    query = UserQuery(user_id="test_user_001", ap_id="web-portal-001", limit=limit)
    records, _ = walk(repo(tables), query)
    assert [r.transaction_id for r in records] == wanted
    first = repo(tables).page(query)
    assert len(first.records) == min(limit, len(wanted))


def test_a_start_key_of_another_shape_is_refused(tables: Tables) -> None:
    with pytest.raises(StartKeyMismatch):
        repo(tables).page(FailQuery(transaction_id="tx"), {"user_id": "u", "sk": "1#tx"})


def test_a_malformed_stored_item_fails_loudly(tables: Tables) -> None:
    tables.client.put_item(
        TableName="notification-records",
        Item={"user_id": {"S": "test_user_001"}, "sk": {"S": "1#tx"}, "status": {"S": "??"}},
    )
    with pytest.raises(StoredRecordError):
        repo(tables).page(UserQuery(user_id="test_user_001"))


def _mixed(count: int) -> list[dict[str, Any]]:
    statuses, platforms = ("SENT", "DELIVERED", "FAILED"), ("IOS", "ANDROID", "WEBPUSH")
    return [
        command(
            transaction_id="tx_001" if i % 2 else f"tx_{i:03d}",
            user_id="test_user_001" if i % 2 == 0 else f"u{i:03d}",
            created_at=T0 + i,
            status=statuses[(i // 3) % 3] if i % 17 else "FAILED",
            platform=platforms[i % 3],
            error_msg="Network timeout" if statuses[(i // 3) % 3] == "FAILED" else None,
        )
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        (
            UserQuery(user_id="test_user_001", status=(Status.FAILED,)),
            lambda c: c["user_id"] == "test_user_001" and c["status"] == "FAILED",
        ),
        (
            UserQuery(
                user_id="test_user_001",
                status=(Status.DELIVERED, Status.FAILED),
                platform=(Platform.IOS,),
            ),
            lambda c: (
                c["user_id"] == "test_user_001" and c["status"] != "SENT" and c["platform"] == "IOS"
            ),
        ),
        (
            TxQuery(transaction_id="tx_001", platform=(Platform.IOS, Platform.ANDROID)),
            lambda c: c["transaction_id"] == "tx_001" and c["platform"] != "WEBPUSH",
        ),
        (
            TxQuery(transaction_id="tx_001", status=(Status.SENT,)),
            lambda c: c["transaction_id"] == "tx_001" and c["status"] == "SENT",
        ),
        (
            FailQuery(transaction_id="tx_001", platform=(Platform.WEBPUSH,)),
            lambda c: (
                c["transaction_id"] == "tx_001"
                and c["status"] == "FAILED"
                and c["platform"] == "WEBPUSH"
            ),
        ),
    ],
    ids=["user-status", "user-status-platform", "tx-platforms", "tx-status", "fail-platform"],
)
@pytest.mark.parametrize("limit", [1, 7])
def test_status_and_platform_filters_page_through_every_match_once(
    tables: Tables, query: Query, keep: Any, limit: int
) -> None:
    deliveries = _mixed(2 * FILTERED_READ_SIZE + 30)
    tables.put(*deliveries)
    wanted = [(d["transaction_id"], d["user_id"]) for d in reversed(deliveries) if keep(d)]
    assert wanted, "the data must hold matches"
    records, pages = walk(repo(tables), query.replace(limit=limit))
    assert [(r.transaction_id, r.user_id) for r in records] == wanted
    assert pages <= len(wanted) // limit + 2


def test_a_filtered_page_costs_a_bounded_number_of_reads(tables: Tables) -> None:
    tables.put(*(command(transaction_id=f"tx_{i:04d}", created_at=T0 + i) for i in range(900)))
    tables.put(command(transaction_id="tx_the_one", created_at=T0 - 1, status="FAILED"))
    tables.calls.clear()
    query = UserQuery(user_id="test_user_001", status=(Status.FAILED,))
    first = repo(tables).page(query)
    assert first.records == [] and first.last_key is not None  # 800 read, none matched
    assert tables.calls == ["Query"] * MAX_FILTERED_READS
    records, _ = walk(repo(tables), query)
    assert [r.transaction_id for r in records] == ["tx_the_one"]


def test_no_query_returns_an_expired_record(tables: Tables) -> None:
    live, expired = T0 + 10 * DAY, T0
    tables.client.batch_write_item(
        RequestItems={
            "notification-records": [
                {"PutRequest": {"Item": to_item(project_record(c, 90))}}
                for c in (
                    command(transaction_id="tx_old", created_at=expired, status="FAILED"),
                    command(transaction_id="tx_new", created_at=live, status="FAILED"),
                )
            ]
        }
    )
    at_day_95 = ReadRepository(
        tables.client, "notification-records", lambda: T0 / 1000 + 95 * 86_400
    )
    for query in (
        UserQuery(user_id="test_user_001"),
        TxQuery(transaction_id="tx_old"),
        FailQuery(transaction_id="tx_old"),
    ):
        assert all(r.transaction_id != "tx_old" for r in at_day_95.page(query).records)
    assert (
        at_day_95.delivery(DeliveryQuery(transaction_id="tx_old", user_id="test_user_001")) is None
    )
    assert [
        r.transaction_id for r in at_day_95.page(UserQuery(user_id="test_user_001")).records
    ] == ["tx_new"]
    # the same records the day before the first one expired
    at_day_89 = ReadRepository(
        tables.client, "notification-records", lambda: T0 / 1000 + 89 * 86_400
    )
    assert len(at_day_89.page(UserQuery(user_id="test_user_001")).records) == 2


def test_a_delivery_comes_with_its_timeline_in_one_query(tables: Tables) -> None:
    failed = command(transaction_id="tx_002", status="FAILED", error_msg="Device token invalid")
    timeline = Timeline().merge(
        [Event(Status.SENT, T0), Event(Status.FAILED, T0 + 30, "Device token invalid")]
    )
    item = project_record(failed | {"updated_at": T0 + 30}, KEPT_DAYS, timeline)
    tables.client.put_item(TableName="notification-records", Item=to_item(item))
    tables.put(*(command(transaction_id="tx_002", user_id=f"u{i}") for i in range(30)))
    tables.calls.clear()
    found = repo(tables).delivery(DeliveryQuery(transaction_id="tx_002", user_id="test_user_001"))
    assert tables.calls == ["Query"]
    assert found is not None
    assert found.record.status is Status.FAILED
    assert [(e.status.value, e.at - T0, e.error_msg) for e in found.timeline.events] == [
        ("SENT", 0, None),
        ("FAILED", 30, "Device token invalid"),
    ]
    assert repo(tables).delivery(DeliveryQuery(transaction_id="tx_002", user_id="nobody")) is None


def test_list_queries_leave_the_timeline_behind(tables: Tables) -> None:
    tables.put(command())
    tables.calls.clear()
    captured: list[dict[str, Any]] = []
    tables.client.meta.events.register(
        "after-call.dynamodb.Query", lambda parsed, **_: captured.append(parsed)
    )
    repo(tables).page(UserQuery(user_id="test_user_001"))
    [item] = captured[0]["Items"]
    assert "events" not in item and "version" not in item

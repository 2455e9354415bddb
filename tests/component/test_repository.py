"""ReadRepository against moto: ordering, windows, filters, paging, and its read cost."""

from __future__ import annotations

from typing import Any

import pytest

from query_service.domain.queries import FailQuery, Query, TxQuery, UserQuery
from query_service.storage.repository import (
    FILTERED_READ_SIZE,
    ReadRepository,
    StartKeyMismatch,
    StoredRecordError,
)
from tests.component.conftest import Tables
from tests.support import command

T0 = 1_700_000_000_000


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

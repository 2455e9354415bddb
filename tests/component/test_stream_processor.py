"""The Stream Processor with DynamoDB stream events in AWS's documented shape, on moto."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from query_service.lambdas import stream_processor
from query_service.storage.dynamo import from_item, to_item
from tests.component.conftest import Tables
from tests.support import FakeContext, command

ARN = (
    "arn:aws:dynamodb:ap-southeast-1:123456789012:table/command-records/stream/"
    "2026-11-24T00:00:00.000"
)
T0 = 1_700_000_000_000


def change(
    name: str, new: dict[str, Any] | None = None, old: dict[str, Any] | None = None, seq: int = 1
) -> dict[str, Any]:
    image = new or old or {}
    stream: dict[str, Any] = {
        "ApproximateCreationDateTime": 1795518000,
        "Keys": to_item(
            {"transaction_id": image.get("transaction_id"), "user_id": image.get("user_id")}
        ),
        "SequenceNumber": f"{seq:021d}",
        "SizeBytes": 256,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        stream["NewImage"] = to_item(new)
    if old is not None:
        stream["OldImage"] = to_item(old)
    return {
        "eventID": f"event-{seq}",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ap-southeast-1",
        "dynamodb": stream,
        "eventSourceARN": ARN,
    }


@pytest.fixture
def sp(tables: Tables) -> Tables:
    return tables


def run(*records: dict[str, Any]) -> list[str]:
    response = stream_processor.lambda_handler({"Records": list(records)}, FakeContext())  # type: ignore[arg-type]
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def read_items(tables: Tables) -> list[dict[str, Any]]:
    items = tables.client.scan(TableName="notification-records")["Items"]
    return [from_item(i) for i in items]


def test_insert_projects_the_read_item_without_secrets(sp: Tables) -> None:
    assert run(change("INSERT", new=command(status="SENT"))) == []
    [item] = read_items(sp)
    assert item["sk"] == f"{T0:013d}#tx_001"
    assert item["status"] == "SENT"
    assert "device_token" not in item and "payload" not in item
    assert "failed_tx" not in item


def test_failed_sets_failed_tx_and_delivered_clears_it(sp: Tables) -> None:
    sent = command(status="SENT")
    failed = command(status="FAILED", error_msg="Device token invalid", updated_at=T0 + 10)
    delivered = command(status="DELIVERED", updated_at=T0 + 20)
    run(change("INSERT", new=sent, seq=1))
    run(change("MODIFY", new=failed, old=sent, seq=2))
    assert read_items(sp)[0]["failed_tx"] == "tx_001"
    run(change("MODIFY", new=delivered, old=failed, seq=3))
    [item] = read_items(sp)
    assert item["status"] == "DELIVERED"
    assert "failed_tx" not in item


def test_stale_update_never_regresses_a_record(sp: Tables) -> None:
    newer = command(status="DELIVERED", updated_at=T0 + 20)
    older = command(status="SENT", updated_at=T0 + 10)
    assert run(change("INSERT", new=newer, seq=2)) == []
    assert run(change("MODIFY", new=older, old=command(), seq=1)) == []  # stale: success
    assert read_items(sp)[0]["status"] == "DELIVERED"


def test_replaying_a_batch_changes_nothing(sp: Tables) -> None:
    batch = [change("INSERT", new=command(user_id=f"u{i}"), seq=i) for i in range(5)]
    run(*batch)
    before = read_items(sp)
    assert run(*batch) == []
    assert read_items(sp) == before


def test_remove_deletes_and_a_stale_remove_does_not(sp: Tables) -> None:
    v1 = command(updated_at=T0)
    v2 = command(status="DELIVERED", updated_at=T0 + 50)
    run(change("INSERT", new=v2, seq=2))
    run(change("REMOVE", old=v1, seq=3))  # an older image's REMOVE, replayed late
    assert len(read_items(sp)) == 1
    run(change("REMOVE", old=v2, seq=4))
    assert read_items(sp) == []


def test_poison_record_fails_alone_with_its_reason_logged(
    sp: Tables, caplog: pytest.LogCaptureFixture
) -> None:
    poison = change(
        "INSERT", new=command(user_id="u_bad", status="LOST", device_token="tok-SECRET"), seq=2
    )
    good = [change("INSERT", new=command(user_id=f"u{i}"), seq=10 + i) for i in range(3)]
    with caplog.at_level(logging.ERROR):
        failures = run(good[0], poison, *good[1:])
    assert failures == [f"{2:021d}"]
    assert {i["user_id"] for i in read_items(sp)} == {"u0", "u1", "u2"}
    reasons = [getattr(r, "reason", "") for r in caplog.records]
    assert any(r.startswith("status:") for r in reasons)
    assert "tok-SECRET" not in repr([r.__dict__ for r in caplog.records])


@pytest.mark.parametrize(
    "record",
    [
        change("INSERT", new=command(created_at="soon")),
        change("INSERT", new=command(platform="FAX")),
        change("MODIFY", new=command(created_at=T0 + 1), old=command()),
        {**change("INSERT", new=command()), "eventName": "UPSERT"},
    ],
)
def test_unprojectable_changes_are_batch_item_failures(sp: Tables, record: dict[str, Any]) -> None:
    assert run(record) == [record["dynamodb"]["SequenceNumber"]]
    assert read_items(sp) == []


def test_a_missing_read_table_fails_the_records_for_retry(sp: Tables) -> None:
    sp.client.delete_table(TableName="notification-records")
    assert run(change("INSERT", new=command())) == [f"{1:021d}"]


def test_one_keys_changes_in_one_batch_apply_in_stream_order(
    sp: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same updated_at, so only stream order decides: the last change must win, even when
    the earlier changes' writes are the slower ones."""

    def earlier_is_slower(params: dict[str, Any], **_: Any) -> None:
        note = params["Item"].get("error_msg", {}).get("S", "")
        if note.startswith("e"):
            time.sleep((24 - int(note[1:])) * 0.002)

    sp.client.meta.events.register("provide-client-params.dynamodb.PutItem", earlier_is_slower)
    monkeypatch.setattr(stream_processor, "_client", lambda: sp.client)
    batch = [
        change("MODIFY" if i else "INSERT", new=command(status="FAILED", error_msg=f"e{i}"), seq=i)
        for i in range(24)
    ]
    others = [change("INSERT", new=command(user_id=f"u{i}"), seq=100 + i) for i in range(8)]
    assert run(*batch[:12], *others, *batch[12:]) == []
    by_user = {item["user_id"]: item for item in read_items(sp)}
    assert by_user["test_user_001"]["error_msg"] == "e23"
    assert len(by_user) == 9


def test_a_batchs_writes_run_concurrently(sp: Tables, monkeypatch: pytest.MonkeyPatch) -> None:
    writers: set[str] = set()
    sp.client.meta.events.register(
        "before-call.dynamodb.PutItem", lambda **_: writers.add(threading.current_thread().name)
    )
    monkeypatch.setattr(stream_processor, "_client", lambda: sp.client)
    batch = [change("INSERT", new=command(user_id=f"u{i}"), seq=i) for i in range(40)]
    assert run(*batch) == []
    assert len(read_items(sp)) == 40
    assert len(writers) > 1 and all(w.startswith("projection") for w in writers)


def test_the_writer_threads_share_one_client(sp: Tables) -> None:
    """Eight threads racing into an empty @cache would each build a client (≈ 8 MiB of
    service model apiece): the handler makes it before they start."""
    batch = [change("INSERT", new=command(user_id=f"u{i}"), seq=i) for i in range(40)]
    assert run(*batch) == []
    assert stream_processor._client.cache_info().misses == 1

"""The Stream Processor with DynamoDB stream events in AWS's documented shape, on moto."""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
from typing import Any

import orjson
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import UnexpectedBatchTypeError

from query_service.config import get_settings
from query_service.lambdas import stream_processor
from query_service.storage.dynamo import from_item, to_item
from tests.component.conftest import Tables
from tests.support import FakeContext, apigw_event, command

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


def test_a_remove_wins_even_over_a_newer_record(sp: Tables) -> None:
    """The write side accepted a stale update (older updated_at) and then deleted the
    delivery: the REMOVE carries the stale image, and still removes the read item."""
    newer = command(status="DELIVERED", updated_at=T0 + 50)
    stale = command(status="SENT", updated_at=T0 + 10)
    run(change("INSERT", new=newer, seq=1))
    run(change("MODIFY", new=stale, old=newer, seq=2))
    assert read_items(sp)[0]["status"] == "DELIVERED"  # the stale one only joined the timeline
    run(change("REMOVE", old=stale, seq=3))
    assert read_items(sp) == []


def test_a_replayed_remove_leaves_the_delivery_written_again_alone(sp: Tables) -> None:
    first = command(status="SENT", updated_at=T0 + 10)
    again = command(status="SENT", updated_at=T0 + 5)  # re-created, its clock behind
    batch = [
        change("INSERT", new=first, seq=1),
        change("REMOVE", old=first, seq=2),
        change("INSERT", new=again, seq=3),
    ]
    run(*batch)
    [item] = read_items(sp)
    assert item["events"] == [{"status": "SENT", "at": T0 + 5}]
    run(*batch)  # the poller restarted before its checkpoint: all three again
    run(batch[1])  # and the REMOVE once more on its own
    assert read_items(sp) == [item]


def test_replays_and_late_events_build_one_timeline_in_time_order(sp: Tables) -> None:
    sent = command(status="SENT", updated_at=T0)
    failed = command(status="FAILED", error_msg="Network timeout", updated_at=T0 + 30)
    retried = command(status="SENT", updated_at=T0 + 60)
    delivered = command(status="DELIVERED", updated_at=T0 + 90)
    late_receipt = command(status="DELIVERED", updated_at=T0 + 45)  # arrives last
    batch = [
        change("INSERT", new=sent, seq=1),
        change("MODIFY", new=failed, old=sent, seq=2),
        change("MODIFY", new=retried, old=failed, seq=3),
        change("MODIFY", new=delivered, old=retried, seq=4),
        change("MODIFY", new=late_receipt, old=delivered, seq=5),
    ]
    run(*batch[:3])
    run(*batch[1:])  # a retried batch overlapping the first
    run(*batch)
    [item] = read_items(sp)
    assert [(e["status"], e["at"] - T0) for e in item["events"]] == [
        ("SENT", 0),
        ("FAILED", 30),
        ("DELIVERED", 45),
        ("SENT", 60),
        ("DELIVERED", 90),
    ]
    assert item["events"][1]["error_msg"] == "Network timeout"
    assert (item["status"], item["updated_at"]) == ("DELIVERED", T0 + 90)
    assert item["events_truncated"] is False


def test_a_record_keeps_its_newest_fifty_events(sp: Tables) -> None:
    times = random.Random(5).sample(range(60), 60)  # the statuses reported out of order
    images = [command(status="SENT", updated_at=T0 + t) for t in times]
    changes = [change("INSERT", new=images[0], seq=1)]
    changes += [change("MODIFY", new=images[i], old=images[i - 1], seq=i + 1) for i in range(1, 60)]
    run(*changes[:25])
    run(*changes)
    [item] = read_items(sp)
    assert [e["at"] - T0 for e in item["events"]] == list(range(10, 60))
    assert item["events_truncated"] is True
    assert item["updated_at"] == T0 + 59


def test_read_items_expire_retention_days_after_created_at(
    sp: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETENTION_DAYS", "30")
    get_settings.cache_clear()
    try:
        run(change("INSERT", new=command(), seq=1))
    finally:
        get_settings.cache_clear()
    [item] = read_items(sp)
    assert item["expires_at"] == T0 // 1000 + 30 * 86_400


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


def _with_image_attribute(name: str, value: object, seq: int) -> dict[str, Any]:
    record = change("MODIFY", new=command(), old=command(), seq=seq)
    record["dynamodb"]["NewImage"][name] = value
    return record


def test_images_it_cannot_read_fail_alone_in_a_modified_batch(sp: Tables) -> None:
    """Attribute values no image can hold (a number that is none, a map that is text, a
    value that is no attribute) fail their own record, while the batch's read and the
    other records go ahead."""
    bad = [
        _with_image_attribute("created_at", {"N": "soon"}, 1),
        _with_image_attribute("notification_title", {"M": "text"}, 2),
        _with_image_attribute("updated_at", "1700000000000", 3),
    ]
    good = change("MODIFY", new=command(user_id="u_ok"), old=command(user_id="u_ok"), seq=4)
    assert run(*bad, good) == [f"{i:021d}" for i in (1, 2, 3)]
    assert [item["user_id"] for item in read_items(sp)] == ["u_ok"]


def test_each_record_is_decoded_once_per_batch(sp: Tables, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch's read needs the changes before the writer threads do: they share one
    decoding of each record (a stream image decoded twice was a tenth of the tier's CPU)."""
    decoded: list[str] = []
    change_of = stream_processor.change_of

    def counted(record: dict[str, Any]) -> Any:
        decoded.append(record["dynamodb"]["SequenceNumber"])
        return change_of(record)

    monkeypatch.setattr(stream_processor, "change_of", counted)
    stream_processor._recent.cache_clear()  # nothing remembered: the modifications are read
    batch = [
        change("MODIFY", new=command(user_id=f"u{i}"), old=command(user_id=f"u{i}"), seq=i)
        for i in range(6)
    ]
    poison = change("INSERT", new=command(user_id="u_bad", status="LOST"), seq=9)
    assert run(*batch, poison) == [f"{9:021d}"]
    assert sorted(decoded) == sorted(r["dynamodb"]["SequenceNumber"] for r in [*batch, poison])
    assert len(read_items(sp)) == 6


def test_a_missing_read_table_fails_the_records_for_retry(sp: Tables) -> None:
    sp.client.delete_table(TableName="notification-records")
    assert run(change("INSERT", new=command())) == [f"{1:021d}"]


def test_one_keys_changes_in_one_batch_apply_in_stream_order(
    sp: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same updated_at, so only stream order decides: the last change must win, even when
    the earlier changes' writes are the slower ones."""

    def earlier_is_slower(params: dict[str, Any], **_: Any) -> None:
        # A change that moves counts is a transaction, its first item the read item's put.
        item = params["Item"] if "Item" in params else params["TransactItems"][0]["Put"]["Item"]
        note = item.get("error_msg", {}).get("S", "")
        if note.startswith("e"):
            time.sleep((24 - int(note[1:])) * 0.002)

    for write in ("PutItem", "TransactWriteItems"):
        sp.client.meta.events.register(f"provide-client-params.dynamodb.{write}", earlier_is_slower)
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
        "before-call.dynamodb.TransactWriteItems",  # an insert moves counts: a transaction
        lambda **_: writers.add(threading.current_thread().name),
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


def test_inserts_cost_one_write_and_a_modified_batch_one_read(
    sp: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a new execution environment (nothing remembered): an insert is one write, a batch
    of modifications one read and a write each."""
    monkeypatch.setattr(stream_processor, "_client", lambda: sp.client)
    inserts = [change("INSERT", new=command(user_id=f"u{i}"), seq=i) for i in range(10)]
    sp.calls.clear()
    assert run(*inserts) == []
    # One write each: the read item and its counters in one transaction.
    assert sp.calls == ["TransactWriteItems"] * 10
    stream_processor._recent.cache_clear()  # a new execution environment: nothing remembered
    modifies = [
        change("MODIFY", new=command(user_id=f"u{i}", updated_at=T0 + 9), old=command(), seq=20 + i)
        for i in range(10)
    ]
    sp.calls.clear()
    assert run(*modifies) == []
    # SENT again, a later updated_at: no count moves, so a plain conditional put each.
    assert sorted(sp.calls) == ["BatchGetItem"] + ["PutItem"] * 10
    sp.calls.clear()
    assert run(*inserts, *modifies) == []  # replayed: nothing written
    assert "PutItem" not in sp.calls and "TransactWriteItems" not in sp.calls


def test_the_items_it_wrote_are_remembered_so_their_next_changes_are_not_read_first(
    sp: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery's outcome after its SENT, in a later batch of the same environment: no
    read (the remembered item is the one it wrote); a replay of both batches is read once,
    to confirm that nothing is to be written, and writes nothing."""
    monkeypatch.setattr(stream_processor, "_client", lambda: sp.client)
    sent = [command(user_id=f"u{i}", status="SENT") for i in range(10)]
    inserts = [change("INSERT", new=new, seq=i) for i, new in enumerate(sent)]
    assert run(*inserts) == []
    failed = {"status": "FAILED", "error_msg": "Device token invalid", "updated_at": T0 + 9}
    modifies = [
        change("MODIFY", new=old | failed, old=old, seq=20 + i) for i, old in enumerate(sent)
    ]
    sp.calls.clear()
    assert run(*modifies) == []
    assert sp.calls == ["TransactWriteItems"] * 10  # SENT -> FAILED moves counts; no read
    by_user = {item["user_id"]: item for item in read_items(sp)}
    assert [e["status"] for e in by_user["u3"]["events"]] == ["SENT", "FAILED"]
    assert by_user["u3"]["failed_tx"] == by_user["u3"]["transaction_id"]
    sp.calls.clear()
    assert run(*inserts, *modifies) == []  # replayed
    assert sp.calls == ["BatchGetItem"]  # "applied before" confirmed by one read, no write
    assert {item["user_id"]: item for item in read_items(sp)} == by_user


def test_an_api_gateway_event_is_refused_not_taken_for_an_empty_batch(sp: Tables) -> None:
    """The API Lambdas read a body API Gateway base64-encoded in one place
    (lambdas/resolver.request_body). The Stream Processor needs no such reading: no API
    Gateway is in front of it, the event source mapping hands it DynamoDB stream records,
    whose images are typed attributes, never an encoded body. An API Gateway event (here
    with isBase64Encoded) is no batch, and fails loudly instead of passing as an empty one."""
    encoded = base64.b64encode(orjson.dumps(command())).decode()
    event = apigw_event("POST", "/", encoded, base64=True)
    with pytest.raises(UnexpectedBatchTypeError):
        stream_processor.lambda_handler(event, FakeContext())  # type: ignore[arg-type]
    assert read_items(sp) == []
    # The same delivery as a stream record is projected.
    assert run(change("INSERT", new=command())) == []
    assert [item["transaction_id"] for item in read_items(sp)] == ["tx_001"]

"""The backfill on moto: the Stream Processor's projection, from command-records (issue 15)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from query_service.operations.backfill import Backfill, Options
from query_service.operations.reproject import backfill_version
from query_service.operations.state import DeadLetterLines, SegmentCheckpoints
from query_service.storage.dynamo import from_item, to_item
from query_service.storage.projection import VERSION_DIGITS, stream_version
from query_service.storage.projector import Projector
from tests.component.conftest import Tables
from tests.component.test_stream_processor import change, read_items, run
from tests.statistics_truth import assert_counters_outlive, without_expiry
from tests.support import command

pytestmark = pytest.mark.cost(15)

T0 = 1_700_000_000_000
RETENTION = 90


def job(tables: Tables, state: Path, **options: Any) -> Backfill:
    return Backfill(
        tables.client,
        Projector(tables.client, "notification-records", RETENTION, "delivery-stats"),
        Options("command-records", RETENTION, **options),
        SegmentCheckpoints(state, "command-records", options.get("segments", 4)),
        DeadLetterLines(state / "dlq.jsonl"),
    )


def write_commands(tables: Tables, *items: dict[str, Any]) -> None:
    for item in items:
        tables.client.put_item(TableName="command-records", Item=to_item(item))


def empty_read_table(tables: Tables) -> None:
    for item in read_items(tables):
        key = {"user_id": item["user_id"], "sk": item["sk"]}
        tables.client.delete_item(TableName="notification-records", Key=to_item(key))
    for counter in tables.client.scan(TableName="delivery-stats")["Items"]:
        tables.client.delete_item(TableName="delivery-stats", Key={"pk": counter["pk"]})


def counter_items(tables: Tables) -> list[dict[str, Any]]:
    return [from_item(i) for i in tables.client.scan(TableName="delivery-stats")["Items"]]


def stats(tables: Tables) -> list[dict[str, Any]]:
    return without_expiry(counter_items(tables))


def without_history(item: dict[str, Any]) -> dict[str, Any]:
    """A read item's state, without what only the stream can know (its past events)."""
    return {k: v for k, v in item.items() if k not in {"version", "events", "events_truncated"}}


def by_key(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["user_id"], i["sk"]): i for i in items}


def deliveries(count: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(sent, outcome) pairs, a tenth of them FAILED."""
    pairs = []
    for n in range(count):
        sent = command(
            transaction_id=f"tx_{n % 7}",
            user_id=f"user_{n:04d}",
            created_at=T0 + n,
            status="SENT",
            ap_id=f"app-{n % 3}",
        )
        failed = n % 10 == 0
        outcome = dict(
            sent,
            updated_at=T0 + n + 500,
            status="FAILED" if failed else "DELIVERED",
            error_msg="Device token invalid" if failed else None,
        )
        pairs.append((sent, outcome))
    return pairs


def test_the_version_sorts_above_the_stored_and_below_every_later_stream_change() -> None:
    stored = stream_version("1234567")
    mine = backfill_version({"version": stored})
    assert stored < mine < stream_version("1234568") < stream_version("91234567")
    assert backfill_version({"version": mine}) == mine  # a second backfill: the same version
    empty = backfill_version(None)
    assert empty == "0" * VERSION_DIGITS + "b" < stream_version("1")
    assert backfill_version({"user_id": "u"}) == empty  # projected before versions existed


def test_an_emptied_read_table_is_restored_as_the_stream_built_it(
    tables: Tables, tmp_path: Path
) -> None:
    pairs = deliveries(60)
    seq = 0
    for sent, outcome in pairs:
        write_commands(tables, outcome)
        assert (
            run(
                change("INSERT", new=sent, seq=(seq := seq + 1)),
                change("MODIFY", new=outcome, old=sent, seq=(seq := seq + 1)),
            )
            == []
        )
    built = by_key(read_items(tables))
    counted = stats(tables)
    assert counted  # the Stream Processor counted them
    empty_read_table(tables)

    counts = job(tables, tmp_path).run(io.StringIO())

    assert (counts.scanned, counts.projected, counts.current, counts.vanished, counts.failed) == (
        60,
        60,
        0,
        0,
        0,
    )
    restored = by_key(read_items(tables))
    assert restored.keys() == built.keys()
    for key, item in built.items():
        assert without_history(restored[key]) == without_history(item)
        assert restored[key]["events"] == [item["events"][-1]]  # the current state's event
    assert stats(tables) == counted
    assert_counters_outlive(counter_items(tables), read_items(tables))
    assert not (tmp_path / "dlq.jsonl").exists()
    # Run again: everything is current, nothing is written.
    tables.calls.clear()
    again = job(tables, tmp_path).run(io.StringIO())
    assert again.current == 60 and again.projected == 0
    assert "PutItem" not in tables.calls and "TransactWriteItems" not in tables.calls
    assert stats(tables) == counted  # nothing counted twice


def test_it_never_regresses_what_the_stream_projected_and_the_stream_still_applies_after_it(
    tables: Tables, tmp_path: Path
) -> None:
    sent = command(status="SENT")
    delivered = dict(sent, status="DELIVERED", updated_at=T0 + 100)
    write_commands(tables, sent)  # the stream has not caught up with it yet
    assert job(tables, tmp_path).run(io.StringIO()).projected == 1
    [item] = read_items(tables)
    assert item["status"] == "SENT" and item["version"] == backfill_version(None)
    # The stream's changes come after it, with their (higher) sequence numbers: applied.
    assert (
        run(change("INSERT", new=sent, seq=5), change("MODIFY", new=delivered, old=sent, seq=6))
        == []
    )
    [item] = read_items(tables)
    assert item["status"] == "DELIVERED" and item["version"] == stream_version("6")
    # A backfill that scanned the stale SENT image: it is merged in, never regresses.
    assert job(tables, tmp_path).run(io.StringIO()).current == 1
    [after] = read_items(tables)
    assert after == item
    # The stream's REMOVE still deletes what the backfill wrote.
    write_commands(tables, delivered)
    run(change("REMOVE", old=delivered, seq=7))
    assert read_items(tables) == []


def test_a_malformed_command_record_goes_to_the_dead_letters_with_its_reason(
    tables: Tables, tmp_path: Path
) -> None:
    write_commands(tables, command(), command(transaction_id="tx_bad", status="LOST"))
    counts = job(tables, tmp_path).run(io.StringIO())
    assert (counts.projected, counts.failed) == (1, 1)
    [line] = (tmp_path / "dlq.jsonl").read_bytes().splitlines()
    letter = orjson.loads(line)
    assert letter["source"] == "backfill" and letter["error"].startswith("status")
    keys = from_item(letter["records"][0]["dynamodb"]["Keys"])
    assert keys == {"transaction_id": "tx_bad", "user_id": "test_user_001"}
    assert "device_token" not in line.decode()


def test_a_dry_run_counts_and_writes_nothing(tables: Tables, tmp_path: Path) -> None:
    write_commands(tables, *[outcome for _, outcome in deliveries(30)])
    counts = job(tables, tmp_path, dry_run=True).run(io.StringIO())
    assert (counts.scanned, counts.projected) == (30, 30)
    assert read_items(tables) == []
    assert not list(tmp_path.rglob("segment-*.json"))


def test_resume_continues_after_the_last_checkpointed_page(
    tables: Tables, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_commands(tables, *[outcome for _, outcome in deliveries(230)])
    first = job(tables, tmp_path, segments=1)
    pages = 0
    original = first.project_page

    def killed_after_two_pages(items: list[dict[str, Any]]) -> None:
        nonlocal pages
        if pages == 2:
            raise KeyboardInterrupt
        pages += 1
        original(items)

    monkeypatch.setattr(first, "project_page", killed_after_two_pages)
    with pytest.raises(KeyboardInterrupt):
        first.run(io.StringIO())
    assert len(read_items(tables)) == 200

    tables.calls.clear()
    resumed = job(tables, tmp_path, segments=1, resume=True).run(io.StringIO())
    assert (resumed.scanned, resumed.projected, resumed.current) == (30, 30, 0)
    assert len(read_items(tables)) == 230
    checkpoint = orjson.loads(
        (tmp_path / "backfill-command-records" / "segment-0-of-1.json").read_bytes()
    )
    assert checkpoint["done"] is True


def test_the_rate_limit_spaces_the_writes() -> None:
    from query_service.operations.backfill import RateLimit

    now = [0.0]
    limit = RateLimit(10, clock=lambda: now[0])
    slept: list[float] = []
    monkey = pytest.MonkeyPatch()
    monkey.setattr("query_service.operations.backfill.time.sleep", slept.append)
    for _ in range(5):
        limit.acquire()
    monkey.undo()
    assert slept == pytest.approx([0.1, 0.2, 0.3, 0.4])

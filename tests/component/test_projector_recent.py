"""The read items the projection remembers across batches (storage/projector.RecentItems).

A remembered item saves the read before a write; it must never change what is written. Each
test here holds a projector that remembers against what a projector that reads every time
(the decision the contract defines) does with the same changes, on moto.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from query_service.storage.dynamo import from_item, to_item
from query_service.storage.projection import Change, stream_version
from query_service.storage.projector import Projector, RecentItems
from query_service.storage.tables import NOTIFICATION_TABLE, STATS_TABLE
from tests.component.conftest import KEPT_DAYS, Tables
from tests.component.test_statistics_faults import assert_exact
from tests.support import command

T0 = 1_700_000_000_000
READS = ("GetItem", "BatchGetItem")


def remembering(tables: Tables, size: int = 100) -> Projector:
    return Projector(tables.client, NOTIFICATION_TABLE, KEPT_DAYS, STATS_TABLE, RecentItems(size))


def reading(tables: Tables) -> Projector:
    """Another writer of the same table (a second poller, the backfill): remembers nothing."""
    return Projector(tables.client, NOTIFICATION_TABLE, KEPT_DAYS, STATS_TABLE)


def stored_items(tables: Tables, table: str = NOTIFICATION_TABLE) -> dict[Any, dict[str, Any]]:
    items = [from_item(i) for i in tables.client.scan(TableName=table)["Items"]]
    return {(str(i["user_id"]), str(i["sk"])): i for i in items}


def as_stored(item: dict[str, Any] | None) -> dict[str, Any]:
    """An item as DynamoDB returns it (an attribute that is None is not stored)."""
    assert item is not None
    return from_item(to_item(item))


def put(seq: int, new: dict[str, Any], old: dict[str, Any] | None = None) -> Change:
    return Change(stream_version(str(seq)), new, old)


def removal(seq: int, old: dict[str, Any]) -> Change:
    return Change(stream_version(str(seq)), None, old)


SENT = command(status="SENT", ap_id="mobile-app-001", updated_at=T0)
DELIVERED = SENT | {"status": "DELIVERED", "updated_at": T0 + 5}
FAILED = SENT | {"status": "FAILED", "error_msg": "Network timeout", "updated_at": T0 + 9}


def reads(tables: Tables) -> list[str]:
    return [call for call in tables.calls if call in READS]


def test_a_delivery_written_is_not_read_again_for_its_next_change(tables: Tables) -> None:
    """Fails if the remembered item is bypassed: the outcome after the SENT costs no read."""
    projector = remembering(tables)
    projector.apply(put(1, SENT), {})
    assert not projector.needs_read(put(2, FAILED, SENT))
    tables.calls.clear()
    step = projector.apply(put(2, FAILED, SENT), {})
    assert reads(tables) == []
    assert tables.calls == ["TransactWriteItems"]  # SENT -> FAILED moves counts
    assert step.after is not None
    assert [e["status"] for e in step.after["events"]] == ["SENT", "FAILED"]
    assert list(stored_items(tables).values()) == [as_stored(step.after)]
    assert_exact(tables)
    # Without the remembered item, the same change would have been read first.
    assert reading(tables).needs_read(put(3, DELIVERED, FAILED))


def test_a_stale_remembered_item_fails_its_write_and_is_decided_again_from_a_read(
    tables: Tables,
) -> None:
    """Another writer made the delivery FAILED after this projector wrote it SENT: the write
    decided from the remembered SENT fails its condition (its counts with it), the item is
    read, and DELIVERED (older than FAILED) only joins the timeline."""
    projector = remembering(tables)
    projector.apply(put(1, SENT), {})
    reading(tables).apply(put(3, FAILED, SENT), {})
    tables.calls.clear()
    step = projector.apply(put(4, DELIVERED, SENT), {})
    assert tables.calls == ["TransactWriteItems", "GetItem", "PutItem"]
    assert step.after is not None and step.after["status"] == "FAILED"
    assert [e["status"] for e in step.after["events"]] == ["SENT", "DELIVERED", "FAILED"]
    assert list(stored_items(tables).values()) == [as_stored(step.after)]
    assert_exact(tables)
    # What it remembers now is what it wrote: the next change needs no read.
    tables.calls.clear()
    projector.apply(put(5, FAILED | {"updated_at": T0 + 20}, FAILED), {})
    assert reads(tables) == []


def test_applied_before_from_a_remembered_item_is_confirmed_by_a_read(tables: Tables) -> None:
    """The remembered item says the change was applied, but the item is gone (the read
    table's TTL sweep): only a read can tell, and then the change is projected, as a
    projector that reads every time does."""
    projector = remembering(tables)
    projector.apply(put(1, SENT), {})
    projector.apply(put(2, FAILED, SENT), {})
    key = put(1, SENT).key
    tables.client.delete_item(
        TableName=NOTIFICATION_TABLE, Key={"user_id": {"S": key[0]}, "sk": {"S": key[1]}}
    )
    replay = put(2, FAILED, SENT)
    assert projector.needs_read(replay)  # a batch's load reads it with the others
    tables.calls.clear()
    step = projector.apply(replay, {})
    assert tables.calls[0] == "GetItem"
    assert step.changed and step.before is None and step.after is not None
    assert stored_items(tables)[key]["status"] == "FAILED"
    # And where the item is still there, the read confirms: nothing is written.
    tables.calls.clear()
    assert not projector.apply(replay, {}).changed
    assert tables.calls == ["GetItem"]


def test_a_removal_then_a_re_creation_keep_the_remove_rules(tables: Tables) -> None:
    """A REMOVE deletes whatever the remembered item's updated_at; the re-creation after it
    is written without a read; the REMOVE replayed after it reads, and deletes nothing."""
    projector = remembering(tables)
    newer = SENT | {"updated_at": T0 + 1_000}
    projector.apply(put(1, newer), {})
    tables.calls.clear()
    gone = projector.apply(removal(2, SENT), {})  # a stale image: the delete wins anyway
    assert gone.after is None and stored_items(tables) == {}
    assert reads(tables) == []
    again = FAILED | {"updated_at": T0 + 2_000}
    tables.calls.clear()
    back = projector.apply(put(3, again), {})
    assert reads(tables) == [] and back.after is not None
    assert [e["status"] for e in back.after["events"]] == ["FAILED"]  # a new life
    tables.calls.clear()
    replayed = projector.apply(removal(2, SENT), {})
    assert not replayed.changed
    assert reads(tables) == ["GetItem"]
    assert list(stored_items(tables).values()) == [as_stored(back.after)]
    assert_exact(tables)


def test_the_least_recently_used_item_is_forgotten_first() -> None:
    recent = RecentItems(2)
    a, b, c = ("u", "a"), ("u", "b"), ("u", "c")
    recent.remember(a, {"v": 1})
    recent.remember(b, None)  # "no item" is remembered too
    assert recent.get(a) == (True, {"v": 1})  # a is now the most recently used
    recent.remember(c, {"v": 3})
    assert len(recent) == 2
    assert recent.get(b) == (False, None)
    assert recent.get(a) == (True, {"v": 1}) and recent.get(c) == (True, {"v": 3})
    recent.forget(a)
    assert recent.get(a) == (False, None)
    nothing = RecentItems(0)
    nothing.remember(a, {"v": 1})
    assert len(nothing) == 0
    with pytest.raises(ValueError, match="negative"):
        RecentItems(-1)


def test_a_forgotten_item_is_read_again(tables: Tables) -> None:
    """Room for one item: the second delivery's insert pushes the first one out, whose next
    change is then read first (and still projected right)."""
    projector = remembering(tables, size=1)
    other = command(user_id="test_user_002", status="SENT", updated_at=T0)
    projector.apply(put(1, SENT), {})
    projector.apply(put(2, other), {})
    assert projector.needs_read(put(3, FAILED, SENT))
    assert not projector.needs_read(put(4, other | {"updated_at": T0 + 1}, other))
    tables.calls.clear()
    step = projector.apply(put(3, FAILED, SENT), {})
    assert tables.calls[0] == "GetItem" and step.after is not None
    assert [e["status"] for e in step.after["events"]] == ["SENT", "FAILED"]


@pytest.mark.parametrize("sweeps", [False, True], ids=["counted", "with-ttl-sweeps"])
def test_remembering_never_changes_what_is_written(tables: Tables, sweeps: bool) -> None:
    """A long random run of puts, stale puts, removals, re-creations and replays by a
    projector that remembers, interleaved with another writer's changes (and, in one run,
    deletes behind both their backs, as the read table's TTL sweep makes them), gives the
    same table, item by item, as projectors that read before every change, run through the
    same history in a table of their own; and it reads far less."""
    rng = random.Random(13 + sweeps)
    twin = "twin-notification-records"
    spec = tables.client.describe_table(TableName=NOTIFICATION_TABLE)["Table"]
    tables.client.create_table(
        TableName=twin,
        KeySchema=spec["KeySchema"],
        AttributeDefinitions=[
            a for a in spec["AttributeDefinitions"] if a["AttributeName"] in ("user_id", "sk")
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    mine = remembering(tables, size=4)  # fewer than the deliveries: forgetting happens
    theirs = reading(tables)
    plain = Projector(tables.client, twin, KEPT_DAYS)
    live: dict[str, dict[str, Any]] = {}
    history: list[Change] = []
    read_by = {"mine": 0, "plain": 0}
    for seq in range(1, 251):
        user = f"user_{rng.randrange(6)}"
        roll = rng.random()
        if roll < 0.1 and history:  # a replay of an earlier change, by this poller
            change, writer = rng.choice(history), mine
        elif roll < 0.15 and sweeps:  # the TTL sweep, behind both projections' backs
            created = live[user]["created_at"] if user in live else T0
            key = put(1, command(user_id=user, created_at=created)).key
            for table in (NOTIFICATION_TABLE, twin):
                tables.client.delete_item(
                    TableName=table, Key={"user_id": {"S": key[0]}, "sk": {"S": key[1]}}
                )
            continue
        else:
            old = live.pop(user, None)
            if old is not None and rng.random() < 0.15:
                change = removal(seq, old)
            else:
                status = rng.choice(("SENT", "DELIVERED", "FAILED"))
                new = command(
                    user_id=user,
                    created_at=old["created_at"] if old else T0 + rng.randrange(2),
                    updated_at=(old["updated_at"] if old else T0) + rng.randrange(-300, 1000),
                    status=status,
                    error_msg=rng.choice(("Network timeout", "Payload too large"))
                    if status == "FAILED"
                    else None,
                )
                change = put(seq, new, old)
                live[user] = new
            history.append(change)
            writer = theirs if rng.random() < 0.2 else mine
        for projector, name in ((writer, "mine"), (plain, "plain")):
            before = len(reads(tables))
            projector.apply(change, {})
            if writer is mine:
                read_by[name] += len(reads(tables)) - before
    got = stored_items(tables)
    assert len(got) >= 3, "too little was projected: the test would prove little"
    assert got == stored_items(tables, twin)
    assert read_by["mine"] < read_by["plain"] * 0.75, read_by
    if not sweeps:  # the sweep moves no count, on AWS as here
        assert_exact(tables)

"""The projection's writes to notification-records (ARCHITECTURE §5).

A change is applied as read → ``transition`` → a write conditioned on the version that was
read, so each read item moves from one state to the next exactly once, whatever else writes
the table at the same time (a second poller, a backfill): on a conflict the item is read
again and the change decided again. The reads of a batch are one consistent BatchGetItem,
and an insert (a delivery's first change) is written without a read, conditioned on there
being no item yet: a change costs one write, as it did before timelines needed the stored
item, plus one read per batch.

The Stream Processor also keeps the items it last wrote (``RecentItems``), so that a
delivery's later changes (its outcome after its SENT) are decided without that read. Using a
remembered item is safe for the same reason a read is: the write is conditioned on the
version the decision started from, and items are never changed in place: every write of an
item (this process's, another poller's, the backfill's, the dead-letter replay's) raises its
version or deletes it. So a remembered item that is no longer the stored one fails its
write's condition, is forgotten, and the change is decided again from a consistent read;
one that still is, is exactly what the read would have returned. (The same version with
other content would take a delete and then the same stream record applied again from
nothing, by a second poller lagging behind this one: not how Lambda or the local stack run.)
The one decision that writes nothing, "applied before", cannot be checked by a condition:
made from a remembered item, it is confirmed by a read before the change is let go (a
deleted item, say by the TTL sweep, would take the change as new).

``write`` is the one place a transition reaches DynamoDB: a read model derived from the
same state change (counts by status) adds its updates there, in one transaction with the
item's conditional put or delete.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from query_service.storage.dynamo import batch_get, from_item, to_attribute, to_item
from query_service.storage.projection import (
    Change,
    ReadKey,
    Transition,
    applied_before,
    transition,
)
from query_service.storage.statistics import counter_updates

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from query_service.config import Settings

log = logging.getLogger(__name__)

CONFLICT_ATTEMPTS = 5
Stored = dict[str, Any] | None


class WriteConflict(RuntimeError):
    """The read item kept changing under the projection; the change is retried later."""


def _key(key: ReadKey) -> dict[str, Any]:
    return {"user_id": {"S": key[0]}, "sk": {"S": key[1]}}


def _cancellation_codes(error: ClientError) -> list[str]:
    """Why a transaction was cancelled, item by item (``None`` for an item that was fine)."""
    reasons = error.response.get("CancellationReasons")
    if isinstance(reasons, list):
        return [str(r.get("Code") or "None") for r in reasons if isinstance(r, dict)]
    # DynamoDB Local may name them in the message only: "... [ConditionalCheckFailed, None]"
    message = str(error.response.get("Error", {}).get("Message", ""))
    listed = message.rpartition("[")[2].partition("]")[0]
    return [part.strip() for part in listed.split(",") if part.strip()]


def _is_conflict(error: ClientError) -> bool:
    """The read item was not the one the write was decided from, or (a write with counts)
    another transaction held one of its items: read again, decide again. A held item is
    given a moment, jittered, to be released first."""
    code = error.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    if code != "TransactionCanceledException":
        return False
    codes = _cancellation_codes(error)
    if "TransactionConflict" in codes:
        log.info("a counter item was busy in another transaction: retrying")
        time.sleep(random.uniform(0.005, 0.05))  # noqa: S311 - backoff jitter
        return True
    return "ConditionalCheckFailed" in codes


def _unchanged_since_read(before: Stored) -> dict[str, Any]:
    """The condition that the item is still what ``before`` says it was."""
    if before is None:
        return {"ConditionExpression": "attribute_not_exists(sk)"}
    names = {"ExpressionAttributeNames": {"#v": "version"}}
    if "version" not in before:  # projected before versions existed
        return {"ConditionExpression": "attribute_exists(sk) AND attribute_not_exists(#v)"} | names
    return {
        "ConditionExpression": "#v = :seen",
        "ExpressionAttributeValues": {":seen": to_attribute(before["version"])},
    } | names


class RecentItems:
    """The read items this process last wrote (or read), at most ``size`` of them, the
    least recently used forgotten first; ``None`` remembers that there is no item.

    Shared by the writer threads; what it holds is never changed in place (``transition``
    builds a new item), so an item handed out stays what it was when remembered.
    """

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self.size = size
        self._items: OrderedDict[ReadKey, Stored] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: ReadKey) -> tuple[bool, Stored]:
        """``(True, item)`` if ``key`` is remembered (and now the most recently used)."""
        with self._lock:
            if key not in self._items:
                return False, None
            self._items.move_to_end(key)
            return True, self._items[key]

    def __len__(self) -> int:
        return len(self._items)

    def remember(self, key: ReadKey, item: Stored) -> None:
        if not self.size:
            return
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def forget(self, key: ReadKey) -> None:
        with self._lock:
            self._items.pop(key, None)


def projector_for(
    client: DynamoDBClient, settings: Settings, recent: RecentItems | None = None
) -> Projector:
    """The projection these settings describe: the Stream Processor's (with the items it
    remembers across batches), and the backfill's."""
    return Projector(
        client,
        settings.notification_table_name,
        settings.retention_days,
        settings.stats_table_name or None,  # empty: no statistics (the bench's baseline)
        recent,
    )


class Projector:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        retention_days: int,
        stats_table: str | None = None,
        recent: RecentItems | None = None,
    ) -> None:
        self._client = client
        self._table = table
        self._retention_days = retention_days
        self._stats_table = stats_table  # None: no statistics are kept
        self._recent = recent  # None: nothing is remembered across calls

    def _remembered(self, key: ReadKey) -> tuple[bool, Stored]:
        return (False, None) if self._recent is None else self._recent.get(key)

    def needs_read(self, change: Change) -> bool:
        """Whether ``apply`` reads the stored item before deciding ``change``: not for an
        insert (its write's condition checks that there is none), nor for a remembered
        item, unless that item says the change was applied before, which only a read can
        confirm (a batch replayed after a retry: ``load`` reads those in one request)."""
        remembered, item = self._remembered(change.key)
        if remembered:
            return applied_before(item, change)
        return not change.inserts

    def load(self, keys: Iterable[ReadKey]) -> dict[ReadKey, Stored]:
        """The stored items at ``keys`` (None where there is none), read consistently."""
        wanted = list(dict.fromkeys(keys))
        found: dict[ReadKey, Stored] = dict.fromkeys(wanted)
        asked = [_key(k) for k in wanted]
        for raw in batch_get(self._client, self._table, asked, ConsistentRead=True):
            item = from_item(raw)
            found[(str(item["user_id"]), str(item["sk"]))] = item
        return found

    def read(self, key: ReadKey) -> Stored:
        response = self._client.get_item(TableName=self._table, Key=_key(key), ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None

    def apply(self, change: Change, known: MutableMapping[ReadKey, Stored]) -> Transition:
        """Apply ``change``; returns what happened. ``known`` holds the items already read
        (from ``load``), and is kept up to date; a key not in it is taken from the items
        remembered (``RecentItems``), else read first, except for an insert, which is
        written as the first of its item unless that write's condition finds one.

        Raises MalformedRecord for a change that cannot be projected.
        """
        key = change.key
        confirmed = True  # ``before`` is what a consistent read returned
        if key in known:
            before = known[key]
        elif (remembered := self._remembered(key))[0]:
            before, confirmed = remembered[1], False
        elif change.inserts:
            before = None  # the usual case, checked by the write's condition: no read
        else:
            before = self.read(key)
        for _ in range(CONFLICT_ATTEMPTS):
            step = transition(before, change, self._retention_days)
            if not step.changed and not confirmed:
                # "Applied before", decided from a remembered item: no write's condition
                # checks that, so read the item and decide again.
                before, confirmed = self.read(key), True
                step = transition(before, change, self._retention_days)
            if not step.changed:
                self._know(known, key, before)
                return step
            try:
                self.write(step)
            except ClientError as error:
                known.pop(key, None)  # not known any more, whatever happened
                if self._recent is not None:
                    self._recent.forget(key)
                if not _is_conflict(error):
                    raise
                log.info("read item changed since it was read: deciding again")
                before, confirmed = self.read(key), True
                continue
            self._know(known, key, step.after)
            return step
        raise WriteConflict(f"read item {key} kept changing")

    def _know(self, known: MutableMapping[ReadKey, Stored], key: ReadKey, item: Stored) -> None:
        known[key] = item
        if self._recent is not None:
            self._recent.remember(key, item)

    def write(self, step: Transition) -> None:
        """Put or delete the read item, if it is still the one the transition started from.

        With statistics, a transition that moves counts is one ``TransactWriteItems``: the
        read item's conditional put or delete and the counter updates of that transition
        (at most one per counter item: ``counter_updates`` combines a scope's deltas), so
        the counts move exactly when the item does, and a write whose condition fails moves
        none. A transition that moves no count stays a single conditional write.
        """
        condition = _unchanged_since_read(step.before)
        if step.after is None:
            operation = "Delete"
            request = {"TableName": self._table, "Key": _key(step.key), **condition}
        else:
            operation = "Put"
            request = {"TableName": self._table, "Item": to_item(step.after), **condition}
        counts = (
            counter_updates(self._stats_table, step.before, step.after) if self._stats_table else []
        )
        if counts:
            items: list[Any] = [{operation: request}, *counts]
            self._client.transact_write_items(TransactItems=items)
        elif step.after is None:
            self._client.delete_item(**request)
        else:
            self._client.put_item(**request)

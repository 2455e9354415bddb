"""command-records changes → notification-records items (ARCHITECTURE §5), as pure functions.

The Stream Processor, the demo loader and the tests all derive the read side here, one way
only. ``transition`` is the one place a read item's state changes: what the stored item
becomes after one change of its delivery. It raises MalformedRecord rather than guessing,
so a bad command record is reported, never half-projected.

Each read item carries ``version``: the stream sequence number of the last change applied to
it (zero-padded, so strings compare as the numbers do). DynamoDB streams one item's changes
in the order they were made, with increasing sequence numbers, so a change whose version is
not above the stored one has been applied already (a replay, a retry, a restarted poller)
and changes nothing. That is what lets a REMOVE always win over the delivery it deletes,
however stale the deleted image, and still never delete a delivery written again after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from query_service.domain.records import MalformedRecord, Record, Status, epoch_ms
from query_service.domain.timeline import Event, Timeline

DAY_SECONDS = 86_400
DEFAULT_RETENTION_DAYS = 90  # RETENTION_DAYS's default (config.Settings.retention_days)
VERSION_DIGITS = 40  # a stream SequenceNumber has 21 to 40 digits

ReadKey = tuple[str, str]  # (user_id, sk)


def sort_key(created_at: int, transaction_id: str) -> str:
    """Newest-first ordering by time, unique per delivery even within one millisecond."""
    return f"{created_at:013d}#{transaction_id}"


def read_key(command_keys: Mapping[str, Any], created_at: int) -> dict[str, str]:
    """Where the read item of a command record lives."""
    return {
        "user_id": str(command_keys["user_id"]),
        "sk": sort_key(created_at, str(command_keys["transaction_id"])),
    }


def expires_at(created_at: int, retention_days: int) -> int:
    """The TTL (epoch seconds) of a delivery created at ``created_at`` (ms)."""
    return created_at // 1000 + retention_days * DAY_SECONDS


def stream_version(sequence_number: object) -> str:
    """A stream record's SequenceNumber as a version that sorts as the number does."""
    if (
        not isinstance(sequence_number, str)
        or not sequence_number.isdigit()
        or not sequence_number.isascii()
        or len(sequence_number) > VERSION_DIGITS
    ):
        raise MalformedRecord("SequenceNumber", "not a stream sequence number")
    return sequence_number.zfill(VERSION_DIGITS)


def project_record(
    command: Mapping[str, Any],
    retention_days: int = DEFAULT_RETENTION_DAYS,
    timeline: Timeline | None = None,
) -> dict[str, Any]:
    """The read item for one command record, as plain values (None = attribute absent).

    ``timeline`` defaults to the record's own status alone: a delivery seen once.
    """
    record = Record.from_mapping(command)
    item = record.to_dict()
    if timeline is None:
        timeline = Timeline((Event(record.status, record.updated_at, record.error_msg),))
    item["sk"] = sort_key(record.created_at, record.transaction_id)
    item["failed_tx"] = record.transaction_id if record.status is Status.FAILED else None
    item["expires_at"] = expires_at(record.created_at, retention_days)
    item["events"] = timeline.to_dicts()
    item["events_truncated"] = timeline.truncated
    return item


def stored_timeline(item: Mapping[str, Any]) -> Timeline:
    """The timeline a read item holds; an item projected before timelines existed stands
    for its current status alone."""
    if "events" not in item:
        return Timeline((Event.of(item),))
    return Timeline.from_stored(item.get("events"), item.get("events_truncated", False))


@dataclass(frozen=True, slots=True)
class Change:
    """One change of a delivery on the write side: a put (INSERT or MODIFY) or a removal."""

    version: str
    new: Mapping[str, Any] | None  # None: the delivery was removed
    old: Mapping[str, Any] | None

    def __post_init__(self) -> None:
        if self.new is None and not self.old:
            raise MalformedRecord("OldImage", "a removal without the removed image")
        if (
            self.new is not None
            and self.old
            and "created_at" in self.old
            and epoch_ms(self.old["created_at"], "created_at") != self.created_at
        ):
            raise MalformedRecord("created_at", "changed, but it is immutable")

    @property
    def inserts(self) -> bool:
        """A delivery's first change (INSERT): there was no previous image."""
        return self.new is not None and not self.old

    @property
    def image(self) -> Mapping[str, Any]:
        """The image that locates the read item: the new one, or the removed one."""
        image = self.new if self.new is not None else self.old
        return image or {}

    @property
    def created_at(self) -> int:
        return epoch_ms(self.image.get("created_at"), "created_at")

    @property
    def key(self) -> ReadKey:
        image = self.image
        for name in ("transaction_id", "user_id"):
            if not isinstance(image.get(name), str):
                raise MalformedRecord(name, "missing or not an identifier")
        key = read_key(image, self.created_at)
        return key["user_id"], key["sk"]


@dataclass(frozen=True, slots=True)
class Transition:
    """A read item before and after one change (None: no item). ``changed`` is False for a
    change applied before: nothing is written then."""

    key: ReadKey
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def changed(self) -> bool:
        return self.after is not self.before


def _updated_at(image: Mapping[str, Any]) -> int:
    return Record.from_mapping(image).updated_at


def applied_before(stored: Mapping[str, Any] | None, change: Change) -> bool:
    """Whether ``change`` leaves ``stored`` as it is (``transition`` writes nothing): it was
    applied before (its version is not above the stored one), or it removes an item that
    is not there."""
    if stored is None:
        return change.new is None
    return str(stored.get("version", "")) >= change.version


def transition(stored: dict[str, Any] | None, change: Change, retention_days: int) -> Transition:
    """What the read item ``stored`` becomes after ``change`` (ARCHITECTURE §5).

    - Applied before (its version is not above the stored one): no change.
    - A removal: no item, whatever the stored item's ``updated_at``.
    - A put: the current state is the newest of the stored state, the change's old image
      and its new one by ``updated_at`` (a tie goes to the later in stream order), so a
      late, older status never regresses the record; its event still joins the timeline,
      in its place, and so does the old image's (which covers a change the read side
      missed, such as one that failed while a later one of the same delivery succeeded).
    """
    key = change.key
    if applied_before(stored, change):
        return Transition(key, stored, stored)
    if change.new is None:
        return Transition(key, stored, None)
    arrivals = [Event.of(change.new)]
    candidates: list[Mapping[str, Any]] = [] if stored is None else [stored]
    if change.old:
        try:
            arrivals.append(Event.of(change.old))
            _updated_at(change.old)
            candidates.append(change.old)
        except MalformedRecord:
            pass  # that image was itself unprojectable, and reported when it came
    candidates.append(change.new)
    current = candidates[0]
    for candidate in candidates[1:]:
        if _updated_at(candidate) >= _updated_at(current):
            current = candidate
    timeline = Timeline() if stored is None else stored_timeline(stored)
    after = project_record(current, retention_days, timeline.merge(arrivals))
    after["version"] = change.version
    return Transition(key, stored, after)

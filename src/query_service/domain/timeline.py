"""A delivery's timeline: every status it went through, when, and why (ARCHITECTURE §3).

The stream can deliver a change twice (replays, retries, a restarted poller) and the push
sender can report an older status after a newer one (a late receipt). So a timeline is a
set of events, not a log: merging one in is idempotent and commutative, and the kept events
are always the newest ``MAX_EVENTS`` of everything ever merged, in time order, whatever
order they arrived in. ``truncated`` says that older ones were dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from query_service.domain.records import (
    MalformedRecord,
    Record,
    Status,
    epoch_ms,
    optional_text,
    status_of,
)

MAX_EVENTS = 50
# What a delivery carries beside its Record's fields: its timeline.
TIMELINE_FIELDS = ("events", "events_truncated")
# Ties in time are broken by status, then reason, so the order is total: the kept events
# then depend only on which events were merged, never on the order they came in.
_STATUS_RANK = {s: i for i, s in enumerate(Status)}


@dataclass(frozen=True, slots=True)
class Event:
    status: Status
    at: int
    error_msg: str | None = None

    @classmethod
    def of(cls, image: Mapping[str, Any]) -> Event:
        """The event a record stands for: its status since ``updated_at``, and why."""
        created = epoch_ms(image.get("created_at"), "created_at")
        at = image.get("updated_at")
        return cls(
            status_of(image.get("status")),
            created if at is None else epoch_ms(at, "updated_at"),
            optional_text(image.get("error_msg"), "error_msg"),
        )

    @classmethod
    def from_dict(cls, data: object) -> Event:
        """An event as stored or sent: ``{"status", "at", "error_msg"}``."""
        if not isinstance(data, Mapping):
            raise MalformedRecord("events", "an event is not an object")
        return cls(
            status_of(data.get("status"), "events"),
            epoch_ms(data.get("at"), "events"),
            optional_text(data.get("error_msg"), "events"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "at": self.at, "error_msg": self.error_msg}

    def order(self) -> tuple[int, int, str]:
        return (self.at, _STATUS_RANK[self.status], self.error_msg or "")


@dataclass(frozen=True, slots=True)
class Timeline:
    events: tuple[Event, ...] = ()
    truncated: bool = False

    def merge(self, arrivals: Iterable[Event]) -> Timeline:
        """This timeline with ``arrivals`` in their places, each event kept once."""
        merged = set(self.events)
        merged.update(arrivals)
        if len(merged) == len(self.events):
            return self
        ordered = sorted(merged, key=Event.order)
        dropped = len(ordered) > MAX_EVENTS
        return Timeline(tuple(ordered[-MAX_EVENTS:]), self.truncated or dropped)

    @classmethod
    def from_stored(cls, events: object, truncated: object) -> Timeline:
        """A timeline as the read item keeps it; MalformedRecord if it is not one."""
        if not isinstance(events, list) or not isinstance(truncated, bool):
            raise MalformedRecord("events", "not a list of events with events_truncated")
        return cls(tuple(Event.from_dict(e) for e in events), truncated)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.events]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery as /query/delivery answers it: the record and its timeline."""

    record: Record
    timeline: Timeline

    def to_dict(self) -> dict[str, Any]:
        body = self.record.to_dict()
        body["events"] = self.timeline.to_dicts()
        body["events_truncated"] = self.timeline.truncated
        return body

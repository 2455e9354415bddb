"""Timelines and the projection's state change, as pure functions (no DynamoDB)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from query_service.domain.records import MalformedRecord, Record, Status
from query_service.domain.timeline import MAX_EVENTS, Delivery, Event, Timeline
from query_service.storage.projection import (
    Change,
    expires_at,
    project_record,
    stored_timeline,
    stream_version,
    transition,
)
from tests.support import command

T0 = 1_700_000_000_000
RETENTION = 90


def event(status: str, at: int, error: str | None = None) -> Event:
    return Event(Status(status), T0 + at, error)


def test_merging_keeps_each_event_once_in_time_order() -> None:
    timeline = Timeline().merge([event("DELIVERED", 30), event("SENT", 0)])
    again = timeline.merge([event("SENT", 0), event("FAILED", 10, "Network timeout")])
    assert [(e.status.value, e.at - T0) for e in again.events] == [
        ("SENT", 0),
        ("FAILED", 10),
        ("DELIVERED", 30),
    ]
    assert again.merge(again.events) is again


def test_only_the_newest_fifty_are_kept_and_truncation_is_said() -> None:
    full = Timeline().merge(event("SENT", i) for i in range(MAX_EVENTS))
    assert not full.truncated
    older = full.merge([event("SENT", -1)])
    assert older.truncated and older.events == full.events
    newer = full.merge([event("DELIVERED", 99)])
    assert newer.truncated and newer.events[-1] == event("DELIVERED", 99)
    assert newer.events[0] == event("SENT", 1)


@given(st.lists(st.tuples(st.sampled_from(list(Status)), st.integers(0, 80)), max_size=120))
def test_a_timeline_depends_only_on_which_events_were_merged(
    arrivals: list[tuple[Status, int]],
) -> None:
    events = [Event(s, at) for s, at in arrivals]
    one_by_one = Timeline()
    for e in events:
        one_by_one = one_by_one.merge([e])
    assert one_by_one == Timeline().merge(reversed(events)) == Timeline().merge(events * 2)
    distinct = sorted(set(events), key=Event.order)
    assert list(one_by_one.events) == distinct[-MAX_EVENTS:]
    assert one_by_one.truncated is (len(distinct) > MAX_EVENTS)


def test_a_stored_timeline_is_checked() -> None:
    stored = [{"status": "SENT", "at": T0}, {"status": "FAILED", "at": T0 + 1, "error_msg": "x"}]
    assert Timeline.from_stored(stored, False).to_dicts() == [
        {"status": "SENT", "at": T0, "error_msg": None},
        {"status": "FAILED", "at": T0 + 1, "error_msg": "x"},
    ]
    for bad in ([{"status": "LOST", "at": 1}], [{"status": "SENT"}], "SENT", [["SENT", 1]]):
        with pytest.raises(MalformedRecord):
            Timeline.from_stored(bad, False)
    with pytest.raises(MalformedRecord):
        Timeline.from_stored([], None)


def test_a_delivery_is_its_record_with_the_timeline() -> None:
    item = project_record(command(status="FAILED", error_msg="Device token invalid"))
    body = Delivery(Record.from_mapping(item), stored_timeline(item)).to_dict()
    assert body["events"] == [{"status": "FAILED", "at": T0, "error_msg": "Device token invalid"}]
    assert body["events_truncated"] is False
    assert "sk" not in body and "expires_at" not in body


def test_versions_sort_as_the_sequence_numbers_do() -> None:
    assert stream_version("9" * 21) < stream_version("1" + "0" * 21)
    for bad in ("", "12a", "-1", 5, "1" * 41, "١٢٣"):
        with pytest.raises(MalformedRecord):
            stream_version(bad)


def test_expiry_is_retention_days_after_created_at_in_seconds() -> None:
    assert expires_at(T0 + 999, 90) == T0 // 1000 + 90 * 86_400
    assert project_record(command(), 7)["expires_at"] == T0 // 1000 + 7 * 86_400


# -- the projection's state change against a model of what it must compute ----------------


def put(seq: int, new: dict[str, Any], old: dict[str, Any] | None = None) -> Change:
    return Change(stream_version(str(seq)), new, old)


def remove(seq: int, old: dict[str, Any]) -> Change:
    return Change(stream_version(str(seq)), None, old)


def fold(changes: list[Change], stored: dict[str, Any] | None = None) -> dict[str, Any] | None:
    for c in changes:
        stored = transition(stored, c, RETENTION).after
    return stored


def test_a_late_older_status_joins_the_timeline_and_does_not_regress() -> None:
    delivered = command(status="DELIVERED", updated_at=T0 + 50)
    late_sent = command(status="SENT", updated_at=T0 + 10)
    item = fold([put(1, delivered), put(2, late_sent, delivered)])
    assert item is not None
    assert (item["status"], item["updated_at"]) == ("DELIVERED", T0 + 50)
    assert [e["status"] for e in item["events"]] == ["SENT", "DELIVERED"]


def test_a_change_applied_before_changes_nothing() -> None:
    item = fold([put(5, command())])
    step = transition(item, put(5, command(status="FAILED", error_msg="x")), RETENTION)
    assert not step.changed and step.after is item
    assert not transition(item, remove(4, command()), RETENTION).changed


def test_a_remove_wins_over_a_newer_record_but_not_over_a_later_write() -> None:
    newer = command(updated_at=T0 + 50)
    stale = command(status="SENT", updated_at=T0 + 10)
    item = fold([put(1, newer), put(2, stale, newer)])
    assert transition(item, remove(3, stale), RETENTION).after is None
    again = fold([put(4, command(updated_at=T0))])
    assert transition(again, remove(3, stale), RETENTION).after is again


def test_an_old_image_fills_in_a_change_the_read_side_missed() -> None:
    """The change to DELIVERED failed and a stale one after it succeeded: the stale one's
    old image is the DELIVERED state, so neither its status nor its event is lost."""
    sent = command(status="SENT", updated_at=T0)
    delivered = command(status="DELIVERED", updated_at=T0 + 20)
    stale = command(status="SENT", updated_at=T0 + 5)
    item = fold([put(1, sent), put(3, stale, delivered)])
    assert item is not None
    assert (item["status"], item["updated_at"]) == ("DELIVERED", T0 + 20)
    assert [e["at"] - T0 for e in item["events"]] == [0, 5, 20]


def test_an_unreadable_old_image_is_left_out() -> None:
    poison = command(status="BOUNCED")
    item = fold([put(2, command(status="SENT"), poison)])
    assert item is not None and [e["status"] for e in item["events"]] == ["SENT"]


@pytest.mark.parametrize(
    "change",
    [
        lambda: put(2, command(created_at=T0 + 1), command()),
        lambda: Change(stream_version("3"), None, None),
        lambda: Change(stream_version("3"), None, {}),
    ],
)
def test_changes_that_cannot_be_projected_say_so(change: Any) -> None:
    with pytest.raises(MalformedRecord):
        change()


def test_a_read_item_from_before_timelines_stands_for_its_current_status() -> None:
    legacy = project_record(command(status="SENT"))
    del legacy["events"], legacy["events_truncated"]
    item = fold([put(9, command(status="DELIVERED", updated_at=T0 + 1))], legacy)
    assert item is not None
    assert [e["status"] for e in item["events"]] == ["SENT", "DELIVERED"]


# Operations on one delivery of the command table: a write of (status, updated_at), or a
# delete. The model: the delivery's current incarnation (the writes since its last delete);
# its read item holds the newest write (a tie: the later) and every distinct event.
operations = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(list(Status)), st.integers(0, 70)),
        st.just(("DELETE", 0)),
    ),
    min_size=1,
    max_size=90,
)


def expected(writes: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not writes:
        return None
    newest = writes[0]
    for w in writes[1:]:
        if w["updated_at"] >= newest["updated_at"]:
            newest = w
    timeline = Timeline().merge(Event.of(w) for w in writes)
    return project_record(newest, RETENTION, timeline)


@given(ops=operations, replay_from=st.integers(0, 200), seed=st.integers(0, 3))
def test_the_fold_equals_the_model_under_replays(
    ops: list[tuple[str, int]], replay_from: int, seed: int
) -> None:
    changes: list[Change] = []
    current: dict[str, Any] | None = None
    incarnation: list[dict[str, Any]] = []
    created = T0
    for seq, (status, at) in enumerate(ops, start=1):
        if status == "DELETE":
            if current is not None:
                changes.append(remove(seq, current))
            current, incarnation = None, []
            created = T0 + seq % (seed + 1)  # sometimes re-created at the same key
            continue
        error = "Network timeout" if status == "FAILED" else None
        image = command(status=status, updated_at=created + at, created_at=created, error_msg=error)
        changes.append(put(seq, image, current))
        current = image
        incarnation.append(image)
    replayed = changes + changes[replay_from % (len(changes) + 1) :]
    by_key: dict[tuple[str, str], dict[str, Any] | None] = {}
    for c in replayed:
        by_key[c.key] = transition(by_key.get(c.key), c, RETENTION).after
    wanted = expected(incarnation)
    live = {k: v for k, v in by_key.items() if v is not None}
    assert [{k: v for k, v in i.items() if k != "version"} for i in live.values()] == (
        [] if wanted is None else [wanted]
    )


def test_the_projection_default_retention_is_the_settings_default() -> None:
    from query_service.config import Settings
    from query_service.storage.projection import DEFAULT_RETENTION_DAYS

    assert Settings().retention_days == DEFAULT_RETENTION_DAYS == RETENTION

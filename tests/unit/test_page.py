"""The ECS handler's compiled page check gives the domain's Record answers, page by page."""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
import pytest
from bench.floor import stub_page
from hypothesis import given, settings
from hypothesis import strategies as st

from query_service.domain.records import MalformedRecord, Record
from query_service.domain.timeline import Delivery, Timeline
from query_service.ecs.internal_client import QueryResult
from query_service.ecs.page import check_page, parse_page
from query_service.ecs.query_path import answer_body
from tests.support import record


def reference(raw: bytes, *, timeline: bool = False) -> tuple[list[dict[str, Any]], str | None]:
    """The page checked the domain's way: decoded, then each item through Record (and its
    timeline through Timeline, for a delivery)."""
    data = orjson.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ValueError("success body without an items list")
    cursor = data.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ValueError("next_cursor is not a string")
    try:
        if timeline:
            return [delivery(item) for item in data["items"]], cursor
        return [Record.from_mapping(item).to_dict() for item in data["items"]], cursor
    except (MalformedRecord, AttributeError, TypeError) as exc:
        raise ValueError(str(exc)) from exc


def delivery(item: Any) -> dict[str, Any]:
    record = Record.from_mapping(item)
    timeline = Timeline.from_stored(item.get("events"), item.get("events_truncated"))
    return Delivery(record, timeline).to_dict()


IDENTIFIERS = st.one_of(
    st.sampled_from(["", "a" * 128, "a" * 129, "has space", "é", "a/b", "u:1@x-y.z"]),
    st.text(st.sampled_from("aZ9_.:@-"), min_size=1, max_size=6),
    st.text(st.sampled_from("aZ9_.:@- \n/"), min_size=1, max_size=6),
    st.text(st.sampled_from("aZ9_.:@-"), min_size=1, max_size=6).map(lambda s: s + "\n"),
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
EPOCHS = st.one_of(
    st.integers(min_value=-5, max_value=10**13 + 5),
    st.sampled_from([0, 9_999_999_999_999, 10**13, 1.0, 1.5, True, "1"]),
    JSON_SCALARS,
)
FIELD_VALUES = {
    "transaction_id": st.one_of(IDENTIFIERS, JSON_SCALARS),
    "user_id": IDENTIFIERS,
    "created_at": EPOCHS,
    "updated_at": EPOCHS,
    "status": st.one_of(st.sampled_from(["SENT", "DELIVERED", "FAILED", "sent", ""]), JSON_SCALARS),
    "platform": st.one_of(st.sampled_from(["IOS", "ANDROID", "WEBPUSH", "ios"]), JSON_SCALARS),
    "notification_title": st.one_of(st.text(max_size=30), JSON_SCALARS),
    "ap_id": st.one_of(IDENTIFIERS, JSON_SCALARS),
    "marketing_id": st.one_of(st.text(max_size=10), JSON_SCALARS),
    "error_msg": st.one_of(st.text(max_size=10), JSON_SCALARS),
}


def mutated(
    draw: st.DrawFn, item: dict[str, Any], values: dict[str, Any], *, fewest: int
) -> dict[str, Any]:
    """``item`` with ``fewest`` to 2 of ``values``' fields changed, now and then one of them
    dropped and an unknown key added."""
    for name in draw(st.sets(st.sampled_from(sorted(values)), min_size=fewest, max_size=2)):
        item[name] = draw(values[name])
    if draw(st.integers(0, 4)) == 0:
        item.pop(draw(st.sampled_from(sorted(values))))
    if draw(st.integers(0, 2)) == 0:
        item[draw(st.text(max_size=8))] = draw(JSON_SCALARS)
    return item


EVENT_VALUES = {
    "status": FIELD_VALUES["status"],
    "at": EPOCHS,
    "error_msg": FIELD_VALUES["error_msg"],
}


@st.composite
def events(draw: st.DrawFn) -> Any:
    """An event with a field changed, dropped or added; now and then not an object."""
    if draw(st.integers(0, 20)) == 0:
        return draw(JSON_SCALARS)
    event = {"status": "FAILED", "at": 1_700_000_000_500, "error_msg": "Gone"}
    return mutated(draw, event, EVENT_VALUES, fewest=0)


TIMELINE_VALUES = {
    "events": st.one_of(st.lists(events(), max_size=3), JSON_SCALARS),
    "events_truncated": st.one_of(st.booleans(), JSON_SCALARS),
}


@st.composite
def items(draw: st.DrawFn, timeline: bool = False) -> Any:
    """A record with some fields changed, dropped or added; now and then not an object."""
    if draw(st.integers(0, 30)) == 0:
        return draw(st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=2)))
    values = FIELD_VALUES | TIMELINE_VALUES if timeline else FIELD_VALUES
    item: dict[str, Any] = record()
    if timeline:
        item |= {
            "events": [{"status": "SENT", "at": item["created_at"]}],
            "events_truncated": False,
        }
    return mutated(draw, item, values, fewest=1)


@st.composite
def pages(draw: st.DrawFn, timeline: bool = False) -> bytes:
    page: Any = {"items": draw(st.lists(items(timeline), max_size=3))}
    cursor = draw(st.one_of(st.none(), st.text(max_size=10), JSON_SCALARS))
    if draw(st.booleans()):
        page["next_cursor"] = cursor
    if draw(st.integers(0, 20)) == 0:
        page = draw(st.one_of(JSON_SCALARS, st.just({"items": cursor})))
    return orjson.dumps(page)


def outcome(parse: Any, raw: bytes) -> Any:
    try:
        records, cursor = parse(raw)
    except ValueError:
        return "refused"
    return [list(r.items()) for r in records], cursor  # key order too: it is the answer's


@settings(max_examples=300, deadline=None)
@given(pages())
def test_the_compiled_check_accepts_and_refuses_what_record_does(raw: bytes) -> None:
    assert outcome(parse_page, raw) == outcome(reference, raw)


@settings(max_examples=300, deadline=None)
@given(pages(timeline=True))
def test_the_compiled_delivery_check_accepts_and_refuses_what_delivery_does(raw: bytes) -> None:
    with_timeline = partial(parse_page, timeline=True)
    assert outcome(with_timeline, raw) == outcome(partial(reference, timeline=True), raw)


def test_a_delivery_keeps_its_timeline_and_a_list_page_drops_it() -> None:
    events = [{"status": "SENT", "at": 1, "error_msg": None}, {"status": "FAILED", "at": 2}]
    raw = orjson.dumps({"items": [record(events=events, events_truncated=True)]})
    (delivered,), _ = parse_page(raw, timeline=True)
    assert delivered["events"] == [
        {"status": "SENT", "at": 1, "error_msg": None},
        {"status": "FAILED", "at": 2, "error_msg": None},
    ]
    assert delivered["events_truncated"] is True
    (listed,), _ = parse_page(raw)
    assert "events" not in listed and "events_truncated" not in listed
    with pytest.raises(ValueError, match=r"^items\.0\.events: "):
        parse_page(orjson.dumps({"items": [record()]}), timeline=True)


def test_a_record_without_updated_at_changed_last_when_created() -> None:
    item = record()
    del item["updated_at"]
    (checked,), _ = parse_page(orjson.dumps({"items": [item]}))
    assert checked["updated_at"] == item["created_at"]


def test_a_good_page_keeps_its_records_and_cursor() -> None:
    raw = orjson.dumps({"items": [record(), record(user_id="u2")], "next_cursor": "a.b"})
    records, cursor = parse_page(raw)
    assert records == [record(), record(user_id="u2")]
    assert cursor == "a.b"


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b"not json", "body"),
        (b"[]", "body"),
        (b'{"next_cursor": null}', "items"),
        (orjson.dumps({"items": [record(status="LOST")]}), "items.0.status"),
        (orjson.dumps({"items": [record(user_id="trailing\n")]}), "items.0.user_id"),
    ],
)
def test_a_refusal_names_the_first_bad_place(raw: bytes, where: str) -> None:
    with pytest.raises(ValueError, match=rf"^{where}: "):
        parse_page(raw)


TEXTS = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(['"', "\\", "\x7f", "\u2028"]))


@st.composite
def written_pages(draw: st.DrawFn) -> bytes:
    """Valid pages as the Query Result Lambda writes them (orjson, Record.to_dict): any text
    in the free-text fields, control characters, quotes and non-ASCII included."""
    items = []
    for i in range(draw(st.integers(0, 3))):
        created = draw(st.integers(0, 9_999_999_999_999))
        item = record(
            transaction_id=f"tx_{i}",
            created_at=created,
            updated_at=draw(st.one_of(st.just(created), st.integers(0, 9_999_999_999_999))),
            status=draw(st.sampled_from(["SENT", "DELIVERED", "FAILED"])),
            platform=draw(st.sampled_from(["IOS", "ANDROID", "WEBPUSH"])),
            notification_title=draw(st.text(max_size=12)),
            ap_id=draw(st.one_of(st.none(), st.just("a" * 128), st.just("u:1@x-y.z"))),
            marketing_id=draw(TEXTS),
            error_msg=draw(TEXTS),
        )
        items.append(Record.from_mapping(item).to_dict())
    return orjson.dumps({"items": items, "next_cursor": draw(TEXTS)})


def checked_outcome(raw: bytes) -> Any:
    try:
        records, cursor = check_page(raw)
    except ValueError:
        return "refused"
    written = records.json()
    return [list(r.items()) for r in records.items], cursor, records.count, written


def reference_outcome(raw: bytes) -> Any:
    try:
        records, cursor = parse_page(raw)
    except ValueError:
        return "refused"
    return [list(r.items()) for r in records], cursor, len(records), orjson.dumps(records)[1:-1]


@settings(max_examples=300, deadline=None)
@given(st.one_of(pages(), written_pages()))
def test_a_page_kept_as_written_is_the_page_the_validator_gives(raw: bytes) -> None:
    """Kept or decoded, a page gives the same records, cursor and answer bytes."""
    assert checked_outcome(raw) == reference_outcome(raw)


@settings(max_examples=200, deadline=None)
@given(written_pages())
def test_a_page_written_as_the_lambda_writes_it_is_kept_as_it_is(raw: bytes) -> None:
    records, _ = check_page(raw)
    assert records._items is None  # not decoded: its bytes were checked and kept
    assert records.json() == orjson.dumps(orjson.loads(raw)["items"])[1:-1]


@pytest.mark.parametrize(
    "change",
    [
        {"user_id": "trailing\n"},
        {"status": "LOST"},
        {"created_at": 10**13},
        {"created_at": 1.0},
        {"updated_at": True},
        {"ap_id": ""},
        {"marketing_id": 5},
        {"notification_title": None},
    ],
)
def test_a_written_page_with_a_bad_record_is_refused_as_before(change: dict[str, Any]) -> None:
    raw = orjson.dumps({"items": [record(), record(**change)], "next_cursor": None})
    with pytest.raises(ValueError, match=r"^items\.1\."):
        check_page(raw)


def test_escapes_other_than_orjson_s_and_invalid_utf8_are_not_kept() -> None:
    for title in (b'"\\u0041"', b'"\\/"', b'"\\u0008"', b'"\xff"'):
        raw = orjson.dumps({"items": [record(notification_title="X")], "next_cursor": None})
        raw = raw.replace(b'"X"', title)
        try:
            records, _ = check_page(raw)
        except ValueError:
            continue  # refused by the validator: not JSON
        assert records._items is not None  # decoded by the validator, not kept


def test_the_answer_is_orjson_s_own_writing_of_it() -> None:
    for raw in (
        stub_page(),
        orjson.dumps({"items": [record()], "next_cursor": 'a"b'}),
        orjson.dumps({"items": [], "next_cursor": ""}),
        orjson.dumps({"items": [record(updated_at=None)], "next_cursor": "c.d"}),
    ):
        records, cursor = check_page(raw)
        count = len(records.items)
        expected = orjson.dumps(
            {
                "success": True,
                "data": parse_page(raw)[0],
                "total_count": count,
                "next_cursor": cursor,
                "message": f"Found {count} record{'s' if count != 1 else ''}"
                + (", more with next_cursor" if cursor else ""),
            }
        )
        assert answer_body(QueryResult(check_page(raw)[0], cursor, 1.0)) == expected

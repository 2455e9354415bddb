"""The internal API's success body, every record checked before the ECS handler relays it.

Two ways, with the domain's Record rules. A list page written as the Query Result Lambda
writes it (``Record.to_dict``, orjson) is checked by one match of its bytes and kept as it
is: the answer writes those same bytes (``check_page``). Anything else, faults included,
is read by a compiled validator (pydantic-core), which checks each field in one pass
(``parse_page``); done in Python (``Record.from_mapping`` on each item of
``orjson.loads``) that check was the handler's largest own cost per request after
FastAPI's routing. ``tests/unit/test_page.py`` holds the validator to the domain's answers
and the kept bytes to the validator's records, on generated pages, valid and not.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from pydantic_core import SchemaValidator, ValidationError, core_schema

from query_service.domain.records import IDENTIFIER_PATTERN, MAX_EPOCH_MS, Platform, Status

_IDENTIFIER = core_schema.str_schema(pattern=IDENTIFIER_PATTERN, strict=True)
_TEXT = core_schema.str_schema(strict=True)


def _required(schema: core_schema.CoreSchema) -> core_schema.TypedDictField:
    return core_schema.typed_dict_field(schema, required=True)


def _optional(schema: core_schema.CoreSchema) -> core_schema.TypedDictField:
    """Absent or null is None."""
    nullable = core_schema.nullable_schema(schema)
    return core_schema.typed_dict_field(
        core_schema.with_default_schema(nullable, default=None), required=False
    )


_EPOCH_MS = core_schema.int_schema(ge=0, le=MAX_EPOCH_MS, strict=True)


# Field by field as Record has them, in its order (the order of the answer's keys); any
# other key of an item is dropped, as Record.from_mapping drops it.
_RECORD_FIELDS: dict[str, core_schema.TypedDictField] = {
    "transaction_id": _required(_IDENTIFIER),
    "user_id": _required(_IDENTIFIER),
    "created_at": _required(_EPOCH_MS),
    "updated_at": _optional(_EPOCH_MS),
    "status": _required(core_schema.literal_schema([s.value for s in Status])),
    "platform": _required(core_schema.literal_schema([p.value for p in Platform])),
    "notification_title": _required(_TEXT),
    "ap_id": _optional(_IDENTIFIER),
    "marketing_id": _optional(_TEXT),
    "error_msg": _optional(_TEXT),
}
# A timeline's event as Event.from_dict reads it.
_EVENT = core_schema.typed_dict_schema(
    {
        "status": _required(core_schema.literal_schema([s.value for s in Status])),
        "at": _required(_EPOCH_MS),
        "error_msg": _optional(_TEXT),
    },
    extra_behavior="ignore",
)
# /query/delivery's item: the record, then its timeline (Delivery.to_dict's keys).
_TIMELINE_FIELDS: dict[str, core_schema.TypedDictField] = {
    "events": _required(core_schema.list_schema(_EVENT, strict=True)),
    "events_truncated": _required(core_schema.bool_schema(strict=True)),
}


def _page(fields: dict[str, core_schema.TypedDictField]) -> SchemaValidator:
    item = core_schema.typed_dict_schema(fields, extra_behavior="ignore")
    return SchemaValidator(
        core_schema.typed_dict_schema(
            {
                "items": _required(core_schema.list_schema(item, strict=True)),
                "next_cursor": _optional(_TEXT),
            },
            extra_behavior="ignore",
        )
    )


PAGE = _page(_RECORD_FIELDS)
DELIVERY_PAGE = _page(_RECORD_FIELDS | _TIMELINE_FIELDS)


def parse_page(raw: bytes, *, timeline: bool = False) -> tuple[list[dict[str, Any]], str | None]:
    """The records (with ``timeline``, each with its timeline) and next cursor of a success
    body; ValueError naming the first fault."""
    try:
        page = (DELIVERY_PAGE if timeline else PAGE).validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ValueError(f"{where}: {first['msg']}") from None
    records = page["items"]
    for record in records:  # here, not a validator function: one Python call per record less
        if record["updated_at"] is None:  # changed last when it was created, as Record has it
            record["updated_at"] = record["created_at"]
    return records, page["next_cursor"]


# A list page exactly as the Query Result Lambda writes it (orjson, ``Record.to_dict``):
# compact, every field in Record's order, each value as its rule allows and as orjson
# writes it. Such a page needs no decoding: its records' JSON is the answer's as they are.
_ID = rb'"[A-Za-z0-9_.:@-]{1,128}"'  # IDENTIFIER_PATTERN: nothing in it is ever escaped
_MS = rb"(?:0|[1-9][0-9]{0,12})"  # 0-MAX_EPOCH_MS (13 digits), no leading zero
_CHARS = rb'[^"\\\x00-\x1f]*'
# orjson's escapes: the short ones, else \u00xx for the other control characters.
_ESCAPE = rb'\\(?:["\\bfnrt]|u00(?:0[0-7]|0b|0e|0f|1[0-9a-f]))'
_TEXT_JSON = rb'"' + _CHARS + rb"(?:" + _ESCAPE + _CHARS + rb')*"'
_RECORD_JSON = (
    rb'\{"transaction_id":' + _ID + rb',"user_id":' + _ID
    + rb',"created_at":' + _MS + rb',"updated_at":' + _MS
    + rb',"status":"(?:' + b"|".join(s.value.encode() for s in Status) + rb')"'
    + rb',"platform":"(?:' + b"|".join(p.value.encode() for p in Platform) + rb')"'
    + rb',"notification_title":' + _TEXT_JSON
    + rb',"ap_id":(?:null|' + _ID + rb')'
    + rb',"marketing_id":(?:null|' + _TEXT_JSON + rb')'
    + rb',"error_msg":(?:null|' + _TEXT_JSON + rb")\}"
)  # fmt: skip
_WRITTEN_PAGE = re.compile(
    rb'\{"items":\[((?:' + _RECORD_JSON + rb"(?:," + _RECORD_JSON + rb')*)?)\]'
    + rb',"next_cursor":(null|' + _TEXT_JSON + rb")\}"
)  # fmt: skip
_RECORD_START = b'{"transaction_id":'  # outside a string only where a record begins


class Records:
    """A checked page's records, and their JSON as the answer writes them (comma-joined,
    orjson's form): each made from the other only when asked for."""

    __slots__ = ("_items", "_json", "count")

    def __init__(self, items: list[dict[str, Any]] | None, json: bytes | None, count: int) -> None:
        self._items, self._json, self.count = items, json, count

    @classmethod
    def of(cls, items: list[dict[str, Any]]) -> Records:
        return cls(items, None, len(items))

    @property
    def items(self) -> list[dict[str, Any]]:
        if self._items is None:
            self._items = orjson.loads(b"[" + (self._json or b"") + b"]")
        return self._items

    def json(self) -> bytes:
        if self._json is None:
            self._json = orjson.dumps(self._items)[1:-1]
        return self._json


def check_page(raw: bytes, *, timeline: bool = False) -> tuple[Records, str | None]:
    """``parse_page``'s answer, as ``Records``. A list page written as the Query Result
    Lambda writes it is checked by one match of its bytes against the rules (every field
    of every record, as the validator checks them) and kept as it is: decoding it into
    Python objects and encoding the answer from them again was most of the ECS handler's
    own work per request (bench/RESULTS.md, ECS section). Anything else, faults included,
    goes through ``parse_page``. ``tests/unit/test_page.py`` holds the two to the same
    records, and the kept bytes to the ones the answer would otherwise write."""
    if not timeline:
        written = _WRITTEN_PAGE.fullmatch(raw)
        if written is not None and (raw.isascii() or _utf8(raw)):
            items, cursor = written.group(1, 2)
            return Records(None, items, items.count(_RECORD_START)), (
                None if cursor == b"null" else orjson.loads(cursor)
            )
    records, next_cursor = parse_page(raw, timeline=timeline)
    return Records.of(records), next_cursor


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True

"""The internal API's success body, parsed and checked in one pass by a compiled validator.

The ECS handler checks every record of every page it relays. Done in Python
(``Record.from_mapping`` on each item of ``orjson.loads``), that check was the handler's
largest own cost per request after FastAPI's routing (make bench, profile section);
pydantic-core reads the JSON and checks each field in one pass. The rules are the
domain's Record rules, and ``tests/unit/test_page.py`` holds the two to the same answers
on generated pages, valid and not.
"""

from __future__ import annotations

from typing import Any

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

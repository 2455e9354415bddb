"""The fields queries are made of: their rules, and the words a refusal of each uses.

One module for the value rules (identifiers, limits, time windows, filters) so that
``queries`` holds only the queries themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError

from query_service.domain.errors import FieldError
from query_service.domain.records import IDENTIFIER_PATTERN, MAX_EPOCH_MS, Platform, Status

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
DEFAULT_STATS_DAYS = 7
MAX_STATS_DAYS = 90
MAX_CURSOR_CHARS = 2048
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"

IDENTIFIER_RULE = "1-128 characters of letters, digits and _ . : @ -"

Identifier = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN, description=IDENTIFIER_RULE),
]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=f"page size, 1-{MAX_LIMIT}")]
Cursor = Annotated[
    str,
    Field(
        min_length=3,
        max_length=MAX_CURSOR_CHARS,
        pattern=CURSOR_PATTERN,
        description="the next_cursor of the previous page, as this service returned it for "
        "the same query: any other value, even of this pattern, is refused with 400",
    ),
]
EpochMs = Annotated[
    int, Field(ge=0, le=MAX_EPOCH_MS, description="milliseconds since the epoch, inclusive")
]
Days = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_STATS_DAYS,
        description=f"with ap_id: UTC days up to today, 1-{MAX_STATS_DAYS} "
        f"(default {DEFAULT_STATS_DAYS})",
    ),
]


def _one_or_more(values: type[Status] | type[Platform]) -> Callable[[object], object]:
    """A filter's values: one string or a list of them, each one of ``values``.

    The result is sorted and without repeats, so two spellings of one filter are one query
    (and one cursor scope).
    """
    rule = f"must be one or more of {', '.join(v.value for v in values)}"
    by_value = {v.value: v for v in values}

    def check(given: object) -> object:
        items = [given] if isinstance(given, str) else given
        if not isinstance(items, list) or not items:
            raise ValueError(rule)
        chosen = set()
        for item in items:
            if not isinstance(item, str) or item not in by_value:
                raise ValueError(rule)
            chosen.add(by_value[item])
        return tuple(v for v in values if v in chosen)

    return check


def _one_or_more_of(values: type[Status] | type[Platform]) -> Any:
    """A filter's list as the schema states it: an empty one filters nothing, and is refused."""
    return Annotated[list[values], Field(min_length=1)]  # type: ignore[valid-type]


StatusFilter = Annotated[
    tuple[Status, ...],
    BeforeValidator(_one_or_more(Status), json_schema_input_type=Status | _one_or_more_of(Status)),
    Field(description="only these statuses: one, or several (a list; GET: repeated or a,b)"),
]
PlatformFilter = Annotated[
    tuple[Platform, ...],
    BeforeValidator(
        _one_or_more(Platform), json_schema_input_type=Platform | _one_or_more_of(Platform)
    ),
    Field(description="only these platforms: one, or several (a list; GET: repeated or a,b)"),
]


_UPPER_BOUNDS = {"limit": MAX_LIMIT, "days": MAX_STATS_DAYS}


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    field = str(error["loc"][0]) if error.get("loc") else ""
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of this query"
    if kind in {"string_pattern_mismatch", "string_too_short", "string_too_long"}:
        if field == "cursor":
            return "is not a cursor this service issued"
        return f"must be {IDENTIFIER_RULE}"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return "must be an integer"
    if kind in {"greater_than_equal", "less_than_equal"}:
        if field in _UPPER_BOUNDS:
            return f"must be between 1 and {_UPPER_BOUNDS[field]}"
        return f"must be a millisecond timestamp between 0 and {MAX_EPOCH_MS}"
    if kind == "string_type":
        return "must be a string"
    return str(error.get("msg", "is not valid")).removeprefix("Value error, ")


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Each refused field with the words every tier answers for it."""
    errors = []
    for e in exc.errors(include_url=False, include_input=False):
        field = str(e["loc"][0]) if e["loc"] else "since"
        errors.append(FieldError(field, _message(e)))
    return errors

"""The domain's plain-Python query rules and the OpenAPI document's pydantic schemas say the
same of every input: the same query accepted, or the same fields refused in the same order
with the same words.

The oracle is pydantic reading the schemas /docs publishes (``ecs/query_schemas.py``), with
its errors put in the words every tier answers (``_words``: what the tiers answered while
they validated with pydantic). The rules between fields (a time window, a statistics scope)
are not in a JSON schema: they are checked once the fields pass, as the domain does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from query_service.domain import rules
from query_service.domain.errors import FieldError, Problem
from query_service.domain.queries import (
    QUERY_MODELS,
    QueryKind,
    parse_query_params,
    validate_query,
)
from query_service.domain.records import MAX_EPOCH_MS
from query_service.ecs.query_schemas import QUERY_SCHEMAS
from tests.unit.test_queries import BAD_FILTER_BODIES, BAD_QUERY_STRINGS, BAD_USER_BODIES
from tests.unit.test_statistics import BAD_STATS_BODIES

_UPPER_BOUNDS = {"limit": rules.MAX_LIMIT, "days": rules.MAX_STATS_DAYS}


def _words(error: Mapping[str, Any]) -> str:
    """A pydantic error in the words the tiers answer (the mapping they used with pydantic)."""
    kind = error["type"]
    field = str(error["loc"][0]) if error.get("loc") else ""
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of this query"
    if kind in {"string_pattern_mismatch", "string_too_short", "string_too_long"}:
        if field == "cursor":
            return "is not a cursor this service issued"
        return f"must be {rules.IDENTIFIER_RULE}"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return "must be an integer"
    if kind in {"greater_than_equal", "less_than_equal"}:
        if field in _UPPER_BOUNDS:
            return f"must be between 1 and {_UPPER_BOUNDS[field]}"
        return f"must be a millisecond timestamp between 0 and {MAX_EPOCH_MS}"
    if kind == "string_type":
        return "must be a string"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    raise AssertionError(f"a pydantic error the tiers never answered: {error}")


def by_schema(kind: QueryKind, data: Mapping[str, Any]) -> object:
    """What the published schema makes of ``data``: the query, or the refused fields."""
    try:
        model = QUERY_SCHEMAS[kind].model_validate(data)
    except ValidationError as exc:
        return [
            FieldError(str(e["loc"][0]), _words(e))
            for e in exc.errors(include_url=False, include_input=False)
        ]
    query = QUERY_MODELS[kind](**dict(model))
    try:
        query.check_together()
    except Problem as problem:
        return problem.errors
    return query


def by_domain(kind: QueryKind, data: Mapping[str, Any]) -> object:
    try:
        return validate_query(kind, data)
    except Problem as problem:
        assert problem.status == 400
        return problem.errors


def assert_same(kind: QueryKind, data: Mapping[str, Any]) -> None:
    assert by_domain(kind, data) == by_schema(kind, data), data


NAMES = sorted({name for schema in QUERY_SCHEMAS.values() for name in schema.model_fields})
STATUSES = ["SENT", "DELIVERED", "FAILED"]
PLATFORMS = ["IOS", "ANDROID", "WEBPUSH"]
identifiers = st.from_regex(r"\A[A-Za-z0-9_.:@-]{1,128}\Z")
cursors = st.from_regex(r"\A[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\Z")
integers = st.one_of(
    st.integers(-2, 102),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, 90, 91, 100, 101, MAX_EPOCH_MS, MAX_EPOCH_MS + 1]),
)
filters = st.one_of(
    st.sampled_from(STATUSES + PLATFORMS + ["failed", "", "SENT,FAILED"]),
    st.lists(st.sampled_from([*STATUSES, *PLATFORMS, "LOST", 3, None]), max_size=4),
)
values = st.one_of(
    identifiers,
    cursors,
    integers,
    filters,
    st.text(max_size=140),
    st.text(alphabet="ab.-_\n", min_size=0, max_size=6),
    st.text(min_size=2040, max_size=2050, alphabet="ab-.").map(lambda s: f"a.{s}"),
    st.booleans(),
    st.floats(allow_nan=False),
    st.none(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
bodies = st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=8)), values, max_size=6)


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(list(QueryKind)), data=bodies)
@example(kind=QueryKind.USER, data={"user_id": "u", "since": 5, "until": 4, "zz": 1})
@example(kind=QueryKind.USER, data={"user_id": "abc\n"})
@example(kind=QueryKind.USER, data={"user_id": "u", "cursor": "a.b\n"})
@example(kind=QueryKind.STATS, data={"transaction_id": "t", "ap_id": "a", "days": 0})
def test_generated_bodies_get_the_same_answer(kind: QueryKind, data: dict[str, Any]) -> None:
    assert_same(kind, data)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(list(QueryKind)),
    data=st.fixed_dictionaries(
        {},
        optional={
            "user_id": identifiers,
            "transaction_id": identifiers,
            "ap_id": identifiers,
            "cursor": cursors,
            "limit": st.integers(0, 101),
            "since": st.integers(-1, MAX_EPOCH_MS),
            "until": st.integers(0, MAX_EPOCH_MS + 1),
            "days": st.integers(0, 91),
            "status": filters,
            "platform": filters,
        },
    ),
)
def test_generated_near_valid_bodies_get_the_same_answer(
    kind: QueryKind, data: dict[str, Any]
) -> None:
    """Mostly the right fields with values near their bounds, where most are accepted."""
    assert_same(kind, data)


@pytest.mark.parametrize(("body", "field", "words"), BAD_USER_BODIES)
def test_every_bad_user_query_of_the_tests(body: dict[str, Any], field: str, words: str) -> None:
    assert_same(QueryKind.USER, body)


@pytest.mark.parametrize(("kind", "body", "field", "words"), BAD_FILTER_BODIES)
def test_every_bad_filter_of_the_tests(
    kind: QueryKind, body: dict[str, Any], field: str, words: str
) -> None:
    assert_same(kind, body)


@pytest.mark.parametrize(("body", "field", "words"), BAD_STATS_BODIES)
def test_every_bad_stats_query_of_the_tests(body: dict[str, Any], field: str, words: str) -> None:
    assert_same(QueryKind.STATS, body)


@pytest.mark.parametrize(
    ("params", "field"),
    # A repeated parameter is refused before any rule is asked: not the schemas' business.
    [(p, f) for p, f in BAD_QUERY_STRINGS if all(len(v) == 1 for v in p.values())],
)
def test_every_bad_query_string_of_the_tests(params: dict[str, list[str]], field: str) -> None:
    """A query string's values, once read (digits as integers), meet the same rules."""
    with pytest.raises(Problem) as caught:
        parse_query_params(QueryKind.USER, params)
    read = {k: int(v[0]) if v[0].isdigit() else v[0] for k, v in params.items()}
    assert caught.value.errors == by_schema(QueryKind.USER, read)


def test_a_json_body_and_the_schema_agree_on_json_numbers() -> None:
    """JSON's 1.0 is a float, and refused as pydantic's strict mode refuses it."""
    data = orjson.loads(b'{"user_id": "u", "limit": 1.0, "days": 2}')
    assert_same(QueryKind.USER, data)
    assert by_domain(QueryKind.USER, data) == [
        FieldError("limit", "must be an integer"),
        FieldError("days", "is not a field of this query"),
    ]

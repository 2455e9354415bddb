from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from query_service.domain.errors import Problem
from query_service.domain.queries import (
    MAX_BODY_BYTES,
    DeliveryQuery,
    FailQuery,
    QueryKind,
    TxQuery,
    UserQuery,
    parse_query_body,
    parse_query_params,
)
from query_service.domain.routes import QUERY_ROUTES

IDENT = st.from_regex(r"\A[A-Za-z0-9_.:@-]{1,128}\Z")


def problem_of(kind: QueryKind, body: bytes | str) -> Problem:
    with pytest.raises(Problem) as caught:
        parse_query_body(kind, body)
    return caught.value


def fields(problem: Problem) -> set[str]:
    return {e.field for e in problem.errors}


def test_user_query_gets_defaults_and_normalises() -> None:
    query = parse_query_body(QueryKind.USER, b'{"user_id": "test_user_001"}')
    assert isinstance(query, UserQuery)
    assert query.normalised() == {"user_id": "test_user_001", "limit": 10}


def test_each_kind_reads_its_own_model() -> None:
    assert isinstance(parse_query_body(QueryKind.FAIL, '{"transaction_id":"tx_002"}'), FailQuery)
    assert isinstance(parse_query_body(QueryKind.TX, '{"transaction_id":"tx_002"}'), TxQuery)


# Every bad user query the tests know (test_query_rules checks the OpenAPI schemas on them).
BAD_USER_BODIES: list[tuple[dict[str, object], str, str]] = [
    ({}, "user_id", "is required"),
    ({"user_id": ""}, "user_id", "1-128 characters"),
    ({"user_id": "x" * 129}, "user_id", "1-128 characters"),
    ({"user_id": "bad id"}, "user_id", "letters, digits"),
    ({"user_id": "semi;colon"}, "user_id", "letters, digits"),
    ({"user_id": 12}, "user_id", "must be a string"),
    ({"user_id": "u", "limit": 0}, "limit", "between 1 and 100"),
    ({"user_id": "u", "limit": 101}, "limit", "between 1 and 100"),
    ({"user_id": "u", "limit": "10"}, "limit", "integer"),
    ({"user_id": "u", "limit": True}, "limit", "integer"),
    ({"user_id": "u", "limit": 1.5}, "limit", "integer"),
    ({"user_id": "u", "since": -1}, "since", "millisecond timestamp"),
    ({"user_id": "u", "since": 5, "until": 4}, "since", "later than until"),
    ({"user_id": "u", "ap_id": "no spaces"}, "ap_id", "letters, digits"),
    ({"user_id": "u", "cursor": "not a cursor"}, "cursor", "not a cursor"),
    ({"user_id": "u", "marketing_id": "m"}, "marketing_id", "not a field"),
]


@pytest.mark.parametrize(("body", "field", "words"), BAD_USER_BODIES)
def test_bad_user_queries_name_the_field(body: dict[str, object], field: str, words: str) -> None:
    problem = problem_of(QueryKind.USER, orjson.dumps(body))
    assert problem.status == 400
    messages = {e.field: e.message for e in problem.errors}
    assert field in messages, messages
    assert words in messages[field]
    assert field in problem.detail


def test_a_128_character_identifier_is_accepted() -> None:
    assert parse_query_body(QueryKind.USER, orjson.dumps({"user_id": "u" * 128}))


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"", b"   ", b"\xff\xfe"])
def test_malformed_bodies_are_400_on_body(body: bytes) -> None:
    assert fields(problem_of(QueryKind.USER, body)) == {"body"}


def test_fail_query_rejects_user_options() -> None:
    problem = problem_of(QueryKind.FAIL, b'{"transaction_id":"tx_1","since":1}')
    assert fields(problem) == {"since"}


def test_body_over_16_kib_is_413() -> None:
    body = orjson.dumps({"user_id": "u", "pad": "x" * MAX_BODY_BYTES})
    assert problem_of(QueryKind.USER, body).status == 413


def test_query_string_integers_arrive_as_digits() -> None:
    query = parse_query_params(QueryKind.USER, {"user_id": ["u1"], "limit": ["5"], "since": ["0"]})
    assert query.normalised() == {"user_id": "u1", "limit": 5, "since": 0}


BAD_QUERY_STRINGS: list[tuple[dict[str, list[str]], str]] = [
    ({"user_id": ["u1"], "limit": ["five"]}, "limit"),
    ({"user_id": ["u1"], "limit": ["-1"]}, "limit"),
    ({"user_id": ["u1", "u2"]}, "user_id"),
    ({"user_id": ["u1"], "extra": ["1"]}, "extra"),
    ({}, "user_id"),
]


@pytest.mark.parametrize(("params", "field"), BAD_QUERY_STRINGS)
def test_bad_query_strings_name_the_field(params: dict[str, list[str]], field: str) -> None:
    with pytest.raises(Problem) as caught:
        parse_query_params(QueryKind.USER, params)
    assert field in fields(caught.value)


def test_scope_ignores_page_size_but_not_filters() -> None:
    a = UserQuery(user_id="u", limit=5)
    assert a.scope() == UserQuery(user_id="u", limit=50).scope()
    assert a.scope() != UserQuery(user_id="u", ap_id="x").scope()
    assert a.scope() != UserQuery(user_id="v").scope()
    assert FailQuery(transaction_id="t").scope() != TxQuery(transaction_id="t").scope()


def test_deprecated_paths_point_at_their_successor() -> None:
    for path in ("/query/failures", "/failed"):
        route = QUERY_ROUTES[path]
        assert route.kind is QueryKind.FAIL
        assert route.deprecation_headers == {
            "Deprecation": "true",
            "Link": '</query/fail>; rel="successor-version"',
        }
    assert QUERY_ROUTES["/query/fail"].deprecation_headers == {}


@given(user_id=IDENT, limit=st.integers(1, 100), since=st.integers(0, 9_999_999_999_999))
def test_every_valid_query_round_trips_through_its_normal_form(
    user_id: str, limit: int, since: int
) -> None:
    query = parse_query_body(
        QueryKind.USER, orjson.dumps({"user_id": user_id, "limit": limit, "since": since})
    )
    assert parse_query_body(QueryKind.USER, orjson.dumps(query.normalised())) == query


@given(text=st.text(min_size=1, max_size=200))
def test_identifiers_outside_the_rule_are_always_refused(text: str) -> None:
    import re

    body = orjson.dumps({"user_id": text})
    if re.fullmatch(r"[A-Za-z0-9_.:@-]{1,128}", text):
        assert parse_query_body(QueryKind.USER, body)
    else:
        assert "user_id" in fields(problem_of(QueryKind.USER, body))


def test_filters_take_one_value_or_several_in_any_spelling() -> None:
    wanted = {"user_id": "u", "limit": 10, "status": ["DELIVERED", "FAILED"]}
    bodies = [
        {"user_id": "u", "status": ["FAILED", "DELIVERED"]},
        {"user_id": "u", "status": ["DELIVERED", "FAILED", "FAILED"]},
    ]
    for body in bodies:
        assert parse_query_body(QueryKind.USER, orjson.dumps(body)).normalised() == wanted
    for params in (
        {"user_id": ["u"], "status": ["DELIVERED", "FAILED"]},
        {"user_id": ["u"], "status": ["FAILED,DELIVERED"]},
        {"user_id": ["u"], "status": ["FAILED", "DELIVERED,FAILED"]},
    ):
        assert parse_query_params(QueryKind.USER, params).normalised() == wanted
    one = parse_query_body(QueryKind.TX, '{"transaction_id":"t","platform":"IOS"}')
    assert one.normalised() == {"transaction_id": "t", "limit": 10, "platform": ["IOS"]}
    assert parse_query_body(QueryKind.TX, orjson.dumps(one.normalised())) == one


ONE_OR_MORE = "must be one or more of"


BAD_FILTER_BODIES: list[tuple[QueryKind, dict[str, object], str, str]] = [
    (QueryKind.USER, {"user_id": "u", "status": "LOST"}, "status", ONE_OR_MORE),
    (QueryKind.USER, {"user_id": "u", "status": "failed"}, "status", ONE_OR_MORE),
    (QueryKind.USER, {"user_id": "u", "status": []}, "status", ONE_OR_MORE),
    (QueryKind.USER, {"user_id": "u", "status": ["SENT", 3]}, "status", ONE_OR_MORE),
    (QueryKind.USER, {"user_id": "u", "status": "SENT,FAILED"}, "status", ONE_OR_MORE),
    (QueryKind.TX, {"transaction_id": "t", "platform": "FAX"}, "platform", ONE_OR_MORE),
    (QueryKind.TX, {"transaction_id": "t", "platform": {"IOS": 1}}, "platform", ONE_OR_MORE),
    (QueryKind.FAIL, {"transaction_id": "t", "status": "FAILED"}, "status", "not a field"),
    (QueryKind.FAIL, {"transaction_id": "t", "platform": ["PAGER"]}, "platform", ONE_OR_MORE),
]


@pytest.mark.parametrize(("kind", "body", "field", "words"), BAD_FILTER_BODIES)
def test_bad_filters_name_the_field(
    kind: QueryKind, body: dict[str, object], field: str, words: str
) -> None:
    problem = problem_of(kind, orjson.dumps(body))
    assert problem.status == 400 and fields(problem) == {field}
    assert words in problem.errors[0].message


def test_a_bad_filter_in_a_query_string_names_the_field() -> None:
    for value in (["IOS,"], ["IOS", ""], ["ios"]):
        with pytest.raises(Problem) as caught:
            parse_query_params(QueryKind.TX, {"transaction_id": ["t"], "platform": value})
        assert fields(caught.value) == {"platform"}


def test_filters_are_part_of_the_cursor_scope() -> None:
    plain = UserQuery(user_id="u")
    failed = parse_query_body(QueryKind.USER, '{"user_id":"u","status":"FAILED"}')
    both = parse_query_body(QueryKind.USER, '{"user_id":"u","status":["FAILED","SENT"]}')
    same = parse_query_params(QueryKind.USER, {"user_id": ["u"], "status": ["SENT,FAILED"]})
    assert len({plain.scope(), failed.scope(), both.scope()}) == 3
    assert both.scope() == same.scope()
    tx = parse_query_body(QueryKind.TX, '{"transaction_id":"t","platform":"IOS"}')
    assert tx.scope() != TxQuery(transaction_id="t").scope()


def test_a_delivery_is_named_by_its_transaction_and_user() -> None:
    query = parse_query_params(
        QueryKind.DELIVERY, {"transaction_id": ["tx_002"], "user_id": ["test_user_001"]}
    )
    assert isinstance(query, DeliveryQuery)
    assert query.normalised() == {"transaction_id": "tx_002", "user_id": "test_user_001"}
    assert fields(problem_of(QueryKind.DELIVERY, '{"transaction_id":"t"}')) == {"user_id"}
    problem = problem_of(QueryKind.DELIVERY, '{"transaction_id":"t","user_id":"u","limit":5}')
    assert fields(problem) == {"limit"}

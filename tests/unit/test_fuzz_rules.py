"""tests/fuzz_rules.py relabels exactly the requests that break one of its named rules."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from schemathesis import GenerationMode
from schemathesis.generation.meta import GenerationInfo

from tests import fuzz_rules


def case(method: str, path: str, **fields: Any) -> Any:
    query, body = (fields, None) if method == "GET" else (None, fields)
    meta = SimpleNamespace(generation=GenerationInfo(time=0.0, mode=GenerationMode.POSITIVE))
    return SimpleNamespace(method=method, path=path, query=query, body=body, meta=meta)


def answered(request: Any, next_cursor: str | None) -> None:
    response = SimpleNamespace(status_code=200, json=lambda: {"next_cursor": next_cursor})
    fuzz_rules.after_call(None, request, response)


def test_a_cursor_is_valid_only_as_issued_for_the_same_query() -> None:
    answered(case("GET", "/query/user", user_id="u1", limit=1, status=["SENT", "FAILED"]), "a.b")
    # Same query (another page size, the filter spelt another way, another path of its kind).
    assert (
        fuzz_rules.broken_rule(
            case("POST", "/query/user", user_id="u1", cursor="a.b", status="FAILED,SENT")
        )
        is None
    )
    assert (
        fuzz_rules.broken_rule(case("GET", "/query/user", user_id="u2", cursor="a.b")) == "cursor"
    )
    assert fuzz_rules.broken_rule(case("GET", "/query/tx", transaction_id="u1", cursor="a.b")) == (
        "cursor"
    )
    assert fuzz_rules.broken_rule(case("GET", "/query/fail", transaction_id="t", cursor="0.0")) == (
        "cursor"
    )


def test_the_other_rules() -> None:
    assert fuzz_rules.broken_rule(case("POST", "/query/user", user_id="u", since=2, until=1)) == (
        "window"
    )
    assert (
        fuzz_rules.broken_rule(case("GET", "/query/user", user_id="u", since="1", until="1"))
        is None
    )
    assert fuzz_rules.broken_rule(case("POST", "/query/tx", transaction_id="t", limit=5.0)) == (
        "integer"
    )
    assert fuzz_rules.broken_rule(case("GET", "/query/tx", transaction_id="t", limit="5")) is None
    for fields in ({}, {"transaction_id": "t", "ap_id": "a"}, {"transaction_id": "t", "days": 3}):
        assert fuzz_rules.broken_rule(case("GET", "/query/stats", **fields)) == "stats scope"
    assert fuzz_rules.broken_rule(case("POST", "/query/stats", ap_id="a", days=3)) is None
    assert (
        fuzz_rules.broken_rule(case("POST", "/query/stats", transaction_id="t", ap_id=None)) is None
    )
    assert fuzz_rules.broken_rule(case("GET", "/health")) is None
    assert set(fuzz_rules.RULES) == {"cursor", "integer", "window", "stats scope"}


def test_only_a_positive_request_that_breaks_a_rule_is_relabelled() -> None:
    broken = case("GET", "/query/fail", transaction_id="t", cursor="x.y")
    fine = case("GET", "/query/fail", transaction_id="t")
    for request in (broken, fine):
        fuzz_rules.before_call(None, request, {})
    assert broken.meta.generation.mode is GenerationMode.NEGATIVE
    assert fine.meta.generation.mode is GenerationMode.POSITIVE

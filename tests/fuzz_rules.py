"""The service's rules that no OpenAPI schema can state, taught to schemathesis.

``schemathesis.toml`` loads this module, so the command line (``schemathesis run
http://127.0.0.1:8000/openapi.json --checks all`` from the repository) and the e2e fuzz
test (tests/e2e/test_fuzz.py) judge with the same rules.

A schema says which requests are well formed. Each rule below is about more than form, so a
request generated as valid (positive) can still break it; such a request is relabelled as
invalid (negative) just before it is sent. The checks then expect what the service answers
and the document says, a 400 naming the field: ``negative_data_rejection`` fails if the
service serves it, ``positive_data_acceptance`` no longer expects a success. Nothing else is
relabelled: any other refusal of a generated valid request is still a failure.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import schemathesis
from schemathesis import GenerationMode
from schemathesis.generation.meta import GenerationInfo

from query_service.domain.queries import FILTER_FIELDS, QueryKind
from query_service.domain.routes import QUERY_ROUTES

# The rules, each with why a schema cannot say it.
RULES = {
    "cursor": "a cursor is valid only as this service returned it (next_cursor) for the same "
    "query: it is signed, so a string of its pattern that the service did not issue is refused; "
    "a schema can give a pattern, not a signature",
    "integer": "an integer field (limit, since, until, days) takes an integer as written: "
    "JSON Schema counts 47.0 as an integer, the service (strict, like its model) refuses it",
    "window": "since must not be later than until: JSON Schema cannot compare two fields",
    "stats scope": "/query/stats takes transaction_id or ap_id, not both, days only with "
    "ap_id: OpenAPI cannot relate query parameters, and schemathesis (4.32) generates a oneOf "
    "body wrongly both ways, so the document states it in words for both forms",
}
_SCOPE_EXCLUDED = frozenset({"limit", "cursor"})
_INTEGER_FIELDS = ("limit", "since", "until", "days")

_issued: dict[str, tuple[str, ...]] = {}  # cursor → the query scope it was issued for
_lock = threading.Lock()


def _fields(case: Any) -> Mapping[str, Any] | None:
    data = case.query if case.method.upper() == "GET" else case.body
    return data if isinstance(data, Mapping) else None


def _text(name: str, value: Any) -> str:
    """A field's value as the service reads it, whichever form it was sent in."""
    if name in FILTER_FIELDS and name != "ap_id":
        values = value if isinstance(value, list) else [value]
        return ",".join(sorted({part for v in values for part in str(v).split(",")}))
    return str(value)


def _scope(case: Any) -> tuple[str, ...] | None:
    """What a cursor is bound to: the query's kind and its fields but the page's."""
    route = QUERY_ROUTES.get(case.path)
    fields = _fields(case)
    if route is None or fields is None:
        return None
    named = sorted(
        f"{k}={_text(k, v)}"
        for k, v in fields.items()
        if k not in _SCOPE_EXCLUDED and v is not None
    )
    return (route.kind.value, *named)


def broken_rule(case: Any) -> str | None:
    """The rule of RULES a request breaks, if any."""
    fields = _fields(case)
    route = QUERY_ROUTES.get(case.path)
    if fields is None or route is None:
        return None
    cursor = fields.get("cursor")
    if cursor is not None:
        with _lock:
            issued_for = _issued.get(str(cursor))
        if issued_for is None or issued_for != _scope(case):
            return "cursor"
    if any(_is_integral_float(fields.get(name)) for name in _INTEGER_FIELDS):
        return "integer"
    since, until = fields.get("since"), fields.get("until")
    if _is_int(since) and _is_int(until) and int(since) > int(until):
        return "window"
    if route.kind is QueryKind.STATS:
        given = {k for k, v in fields.items() if v is not None}
        scopes = given & {"transaction_id", "ap_id"}
        if len(scopes) != 1 or ("days" in given and "ap_id" not in given):
            return "stats scope"
    return None


def _is_integral_float(value: Any) -> bool:
    """47.0, or "47.0" in a query string: an integer to JSON Schema, not to the service."""
    if isinstance(value, str):
        try:
            value = float(value) if not value.strip().lstrip("-").isdigit() else None
        except ValueError:
            return False
    return isinstance(value, float) and value.is_integer()


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (
        isinstance(value, str) and value.isascii() and value.isdigit()
    )


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    meta = case.meta
    if meta is None or meta.generation.mode is not GenerationMode.POSITIVE:
        return
    if broken_rule(case) is not None:
        meta.generation = GenerationInfo(time=meta.generation.time, mode=GenerationMode.NEGATIVE)


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """Remember each cursor the service returns, with the query it was returned for."""
    if response.status_code != 200 or case.path not in QUERY_ROUTES:
        return
    try:
        cursor = response.json().get("next_cursor")
    except (ValueError, AttributeError):
        return
    scope = _scope(case)
    if isinstance(cursor, str) and scope is not None:
        with _lock:
            _issued[cursor] = scope

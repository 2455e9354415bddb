"""Problem details (RFC 9457): the one error shape every tier answers with.

Each kind of failure a client can meet is one entry of ``PROBLEMS``; the API reference
documents the same catalogue. ``detail`` is written for the caller: no exception text,
stack trace or internal address ever goes in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

PROBLEM_CONTENT_TYPE = "application/problem+json"
# The value types here are NamedTuples and plain classes, not dataclasses: every Lambda
# imports this module at cold start, where ``dataclass`` costs about 4.5 M instructions a
# class on Python 3.12 (it compiles each method from source; bench/RESULTS.md, Cold start).


class ProblemType(NamedTuple):
    slug: str
    status: int
    title: str

    @property
    def uri(self) -> str:
        return f"/problems/{self.slug}"


INVALID_REQUEST = ProblemType("invalid-request", 400, "Invalid request")
NOT_FOUND = ProblemType("not-found", 404, "Not found")
METHOD_NOT_ALLOWED = ProblemType("method-not-allowed", 405, "Method not allowed")
GONE = ProblemType("query-removed", 410, "Query removed")
PAYLOAD_TOO_LARGE = ProblemType("payload-too-large", 413, "Payload too large")
URI_TOO_LONG = ProblemType("uri-too-long", 414, "URI too long")
HEADERS_TOO_LARGE = ProblemType("headers-too-large", 431, "Request header fields too large")
INTERNAL_ERROR = ProblemType("internal-error", 500, "Internal error")
UPSTREAM_FAILED = ProblemType("upstream-failed", 502, "Upstream failed")
UPSTREAM_UNAVAILABLE = ProblemType("upstream-unavailable", 503, "Upstream unavailable")
UPSTREAM_TIMEOUT = ProblemType("upstream-timeout", 504, "Upstream timed out")

PROBLEMS: tuple[ProblemType, ...] = (
    INVALID_REQUEST,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    GONE,
    PAYLOAD_TOO_LARGE,
    URI_TOO_LONG,
    HEADERS_TOO_LARGE,
    INTERNAL_ERROR,
    UPSTREAM_FAILED,
    UPSTREAM_UNAVAILABLE,
    UPSTREAM_TIMEOUT,
)


class FieldError(NamedTuple):
    field: str
    message: str


class Problem(Exception):
    """An answer that is not a success. Raised anywhere, rendered at the edge."""

    def __init__(
        self,
        kind: ProblemType,
        detail: str,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail
        self.errors: list[FieldError] = [] if errors is None else errors
        self.headers: dict[str, str] = {} if headers is None else headers

    def __repr__(self) -> str:
        return f"Problem({self.kind!r}, {self.detail!r}, {self.errors!r}, {self.headers!r})"

    def __str__(self) -> str:
        return f"{self.kind.status} {self.kind.title}: {self.detail}"

    @property
    def status(self) -> int:
        return self.kind.status

    def body(self, request_id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.kind.uri,
            "title": self.kind.title,
            "status": self.kind.status,
            "detail": self.detail,
            "request_id": request_id,
            "success": False,
        }
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return body


def invalid(errors: list[FieldError], detail: str | None = None) -> Problem:
    """A 400 naming every offending field."""
    if detail is None:
        named = ", ".join(dict.fromkeys(e.field for e in errors))
        detail = f"The request is not valid: check {named}."
    return Problem(INVALID_REQUEST, detail, errors)


def method_not_allowed(methods: Sequence[str]) -> Problem:
    """405 for a path that serves other methods: ``Allow`` names every one (RFC 9110)."""
    return Problem(
        METHOD_NOT_ALLOWED,
        f"This path accepts {' and '.join(methods)} only.",
        headers={"Allow": ", ".join(methods)},
    )


def no_such_path() -> Problem:
    return Problem(NOT_FOUND, "There is no such path.")


def failing_upstream(service: str, retry_after: str) -> Problem:
    """503 while an upstream's circuit is open: no call is made, the caller may retry later."""
    return Problem(
        UPSTREAM_UNAVAILABLE,
        f"The {service} is failing; try again shortly.",
        headers={"Retry-After": retry_after},
    )


def is_problem_body(body: object) -> bool:
    """Whether an upstream's JSON is a problem we may relay to the caller as it is."""
    if not isinstance(body, Mapping):
        return False
    status = body.get("status")
    return (
        isinstance(body.get("title"), str)
        and isinstance(body.get("detail"), str)
        and isinstance(status, int)
        and not isinstance(status, bool)
        and 400 <= status <= 599
    )

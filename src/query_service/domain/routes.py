"""The public paths: which query each serves, the deprecated aliases, the removed ones."""

from __future__ import annotations

from typing import NamedTuple

from query_service.domain.errors import GONE, Problem
from query_service.domain.queries import QueryKind


class QueryRoute(NamedTuple):
    """A public path that runs a query; ``successor`` is set on deprecated aliases."""

    path: str
    kind: QueryKind
    successor: str | None = None

    @property
    def deprecation_headers(self) -> dict[str, str]:
        if self.successor is None:
            return {}
        return {"Deprecation": "true", "Link": f'<{self.successor}>; rel="successor-version"'}


QUERY_ROUTES: dict[str, QueryRoute] = {
    r.path: r
    for r in (
        QueryRoute("/query/user", QueryKind.USER),
        QueryRoute("/query/fail", QueryKind.FAIL),
        QueryRoute("/query/tx", QueryKind.TX),
        QueryRoute("/query/delivery", QueryKind.DELIVERY),
        QueryRoute("/query/stats", QueryKind.STATS),
        QueryRoute("/query/failures", QueryKind.FAIL, successor="/query/fail"),
        QueryRoute("/failed", QueryKind.FAIL, successor="/query/fail"),
    )
}
QUERY_METHODS = ("GET", "POST")
REMOVED_ROUTES: dict[str, str] = {
    "/query/marketing": (
        "The marketing query was removed in the ECS migration and is no longer served. "
        "Query a user's records with /query/user or a transaction's with /query/tx."
    ),
}


def route_label(path: str) -> str:
    """The path as a metric dimension: a known route, or "other" (bounded cardinality)."""
    return path if path in QUERY_ROUTES or path in REMOVED_ROUTES or path == "/health" else "other"


def removed(path: str) -> Problem:
    return Problem(GONE, REMOVED_ROUTES[path])

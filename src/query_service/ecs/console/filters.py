"""The list views' filters and the words a page uses for a problem the API returned."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from query_service.domain.errors import Problem
from query_service.domain.records import Platform, Status

PAGE_SIZE = 25
HOUR_MS = 3_600_000
WINDOWS: dict[str, tuple[str, int | None]] = {
    "1h": ("Last hour", HOUR_MS),
    "24h": ("Last 24 hours", 24 * HOUR_MS),
    "7d": ("Last 7 days", 7 * 24 * HOUR_MS),
    "30d": ("Last 30 days", 30 * 24 * HOUR_MS),
    "all": ("Any time (as long as records are kept)", None),
}
STATUSES = tuple(s.value for s in Status)
PLATFORMS = tuple(p.value for p in Platform)
# What a field of a problem means to a person reading the console.
FIELD_LABELS = {
    "user_id": "User id",
    "transaction_id": "Transaction id",
    "status": "Status filter",
    "platform": "Platform filter",
    "cursor": "Page link",
    "limit": "Page size",
    "since": "Time window",
    "until": "Time window",
    "q": "Search",
}


@dataclass
class Filters:
    """The list views' GET parameters, as the form shows them and as the query takes them."""

    statuses: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    window: str = "all"
    cursor: str | None = None
    limit: str = str(PAGE_SIZE)

    @classmethod
    def from_request(cls, request: Request) -> Filters:
        params = request.query_params
        window = params.get("window") or "all"
        return cls(
            statuses=[v for v in params.getlist("status") if v],
            platforms=[v for v in params.getlist("platform") if v],
            window=window if window in WINDOWS else "all",
            cursor=params.get("cursor") or None,
            limit=params.get("limit") or str(PAGE_SIZE),
        )

    def query_params(self, with_window: bool) -> dict[str, list[str]]:
        """The query string the API would be given for these filters."""
        params: dict[str, list[str]] = {"limit": [self.limit]}
        if self.cursor:
            params["cursor"] = [self.cursor]
        if self.statuses:
            params["status"] = [",".join(self.statuses)]
        if self.platforms:
            params["platform"] = [",".join(self.platforms)]
        span = WINDOWS[self.window][1]
        if with_window and span is not None:
            params["since"] = [str(int(time.time() * 1000) - span)]
        return params

    def described(self) -> dict[str, Any]:
        """What the audit line records of the filters."""
        return {
            "status": self.statuses or None,
            "platform": self.platforms or None,
            "window": self.window,
            "page": "next" if self.cursor else "first",
        }

    @property
    def active(self) -> bool:
        return bool(self.statuses or self.platforms or self.window != "all")


def more_link(request: Request, next_cursor: str | None) -> str | None:
    """This page's URL for the next page: the same filters, the cursor the API returned."""
    if next_cursor is None:
        return None
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in {"cursor", "via"}]
    return f"{request.url.path}?{urlencode([*kept, ('cursor', next_cursor)])}"


def problem_lines(problem: Problem) -> tuple[str, list[str]]:
    """A problem the API returned, in the words the page shows."""
    fields = [f"{FIELD_LABELS.get(e.field, e.field)}: {e.message}." for e in problem.errors]
    if problem.status == 400:
        if any(e.field == "cursor" for e in problem.errors):
            return "This page link no longer works", [
                *fields,
                "Go back to the first page and page on from there.",
            ]
        return "Check what you typed", fields or [problem.detail]
    if problem.status == 404:
        return "Not found", [problem.detail]
    if problem.status in {502, 503, 504}:
        return "The record service could not answer", [
            problem.detail,
            "Try again in a moment. If it keeps happening, give the on-call engineer "
            "the request id at the foot of this page.",
        ]
    return "Something went wrong", [problem.detail]

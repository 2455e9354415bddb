"""The console's templates on their own: the funnel as /query/stats gives it (§3)."""

from __future__ import annotations

import re

from query_service.ecs.console.filters import Filters
from query_service.ecs.console.render import Pages, iso_utc, utc_text

STATS = {
    "transaction_id": "tx_002",
    "total": 4,
    "by_status": {"SENT": 1, "DELIVERED": 2, "FAILED": 1},
    "by_platform": {"IOS": 2, "ANDROID": 2, "WEBPUSH": 0},
    "top_errors": [{"error_msg": "<b>Device token invalid</b>", "count": 1}],
    "as_of": 1_795_611_170_575,
}


def render_transaction(funnel: object, funnel_problem: str | None = None) -> str:
    response = Pages().render(
        "transaction.html",
        who="local-developer",
        title="Transaction tx_002",
        transaction_id="tx_002",
        here="/console/transactions/tx_002",
        funnel=funnel,
        funnel_problem=funnel_problem,
        filters=Filters(),
        records=[],
        more=None,
        via_search=False,
        statuses=("SENT", "DELIVERED", "FAILED"),
        platforms=("IOS", "ANDROID", "WEBPUSH"),
    )
    return bytes(response.body).decode()


def test_the_funnel_shows_the_counts_the_stats_query_gives() -> None:
    html = render_transaction(STATS)
    assert "4 deliveries, counted at" in html
    counts = re.findall(r'<td class="num">(\d+)</td>', html)
    assert counts == ["1", "2", "1", "2", "2", "0"]
    assert 'class="bar bar--failed" x="0" y="0" height="10" width="25.0"' in html
    assert '<span class="reason">&lt;b&gt;Device token invalid&lt;/b&gt;</span>: 1' in html
    assert "could not be loaded" not in html


def test_without_statistics_the_page_says_why_and_counts_nothing() -> None:
    html = render_transaction(None, "The record service could not answer")
    assert "The counts could not be loaded</strong> (The record service could not answer)" in html
    assert 'class="num"' not in html


def test_times_are_utc_to_the_millisecond() -> None:
    assert iso_utc(1_795_611_170_005) == "2026-11-25T12:52:50.005Z"
    assert utc_text(1_795_611_170_005) == "2026-11-25 12:52:50 UTC"

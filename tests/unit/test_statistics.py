"""Delivery statistics as pure functions: contributions, deltas, answers, the query."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from query_service.domain.errors import Problem
from query_service.domain.queries import QueryKind, StatsQuery, parse_query_body, parse_query_params
from query_service.domain.statistics import (
    Scope,
    checked_stats,
    contribution,
    count_deltas,
    daily,
    days_until,
    funnel,
    utc_day,
)

DAY_MS = 86_400_000
T0 = 1_795_611_170_575  # 2026-11-24


def item(
    user: str = "u1",
    status: str = "SENT",
    platform: str = "IOS",
    error: str | None = None,
    ap_id: str | None = "app",
    tx: str = "tx_1",
    created_at: int = T0,
) -> dict[str, Any]:
    return {
        "transaction_id": tx,
        "user_id": user,
        "created_at": created_at,
        "status": status,
        "platform": platform,
        "error_msg": error,
        "ap_id": ap_id,
    }


def test_a_new_delivery_counts_once_in_its_transaction_and_its_applications_day() -> None:
    moved = count_deltas(None, item())
    day = Scope.app_day("app", utc_day(T0))
    assert moved == {
        Scope.transaction("tx_1"): {"n": 1, "p#IOS": 1, "s#SENT": 1},
        day: {"n": 1, "p#IOS": 1, "s#SENT": 1},
    }


def test_a_status_change_moves_one_delivery_from_one_count_to_another() -> None:
    moved = count_deltas(item(), item(status="FAILED", error="Device token invalid"))
    assert moved[Scope.transaction("tx_1")] == {
        "s#SENT": -1,
        "s#FAILED": 1,
        "e#Device token invalid": 1,
    }
    assert moved[Scope.app_day("app", utc_day(T0))] == {"s#SENT": -1, "s#FAILED": 1}


def test_a_change_that_moves_no_count_writes_no_counter() -> None:
    assert count_deltas(item(), item()) == {}
    assert count_deltas(None, None) == {}


def test_a_removal_takes_the_delivery_out_of_every_count() -> None:
    failed = item(status="FAILED", error="Network timeout")
    moved = count_deltas(failed, None)
    assert moved[Scope.transaction("tx_1")] == {
        "n": -1,
        "s#FAILED": -1,
        "p#IOS": -1,
        "e#Network timeout": -1,
    }


def test_a_delivery_without_ap_id_counts_in_its_transaction_only() -> None:
    assert set(count_deltas(None, item(ap_id=None))) == {Scope.transaction("tx_1")}


def test_the_day_is_the_utc_day_of_created_at() -> None:
    assert utc_day(0) == "1970-01-01"
    assert utc_day(DAY_MS - 1) == "1970-01-01"
    assert utc_day(DAY_MS) == "1970-01-02"


STATES = st.builds(
    item,
    user=st.sampled_from(["u1", "u2", "u3"]),
    status=st.sampled_from(["SENT", "DELIVERED", "FAILED"]),
    platform=st.sampled_from(["IOS", "ANDROID", "WEBPUSH"]),
    error=st.sampled_from([None, "Device token invalid", "Network timeout"]),
    ap_id=st.sampled_from([None, "app", "web"]),
)


@given(st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.none() | STATES), max_size=30))
def test_summed_deltas_are_the_contribution_of_the_items_as_they_end(
    changes: list[tuple[str, dict[str, Any] | None]],
) -> None:
    """Whatever sequence of puts and removals, the counters equal the final items' counts."""
    stored: dict[str, dict[str, Any] | None] = {}
    counters: Counter[tuple[Scope, str]] = Counter()
    for user, state in changes:
        after = None if state is None else state | {"user_id": user}
        for scope, deltas in count_deltas(stored.get(user), after).items():
            for name, delta in deltas.items():
                counters[scope, name] += delta
        stored[user] = after
    truth: Counter[tuple[Scope, str]] = Counter()
    for final in stored.values():
        truth.update(contribution(final))
    assert +counters == truth
    assert -counters == Counter()  # never below zero


def test_funnel_sums_the_shards_and_ranks_the_failure_reasons() -> None:
    shards = [
        {"pk": "tx#tx_1#00", "n": 3, "s#SENT": 1, "s#FAILED": 2, "p#IOS": 3, "e#b": 1, "e#a": 1},
        {"pk": "tx#tx_1#05", "n": 2, "s#FAILED": 2, "p#ANDROID": 2, "e#b": 1, "e": 1},
        {"pk": "tx#tx_1#09", "n": 0, "s#FAILED": 0, "e#gone": 0, "expires_at": 5},
    ]
    answer = funnel("tx_1", shards, as_of=123)
    assert answer == {
        "transaction_id": "tx_1",
        "total": 5,
        "by_status": {"SENT": 1, "DELIVERED": 0, "FAILED": 4},
        "by_platform": {"IOS": 3, "ANDROID": 2, "WEBPUSH": 0},
        "top_errors": [
            {"error_msg": "b", "count": 2},
            {"error_msg": "a", "count": 1},
            {"error_msg": None, "count": 1},
        ],
        "as_of": 123,
    }


def test_funnel_keeps_the_ten_most_frequent_reasons() -> None:
    shard = {f"e#reason {i:02d}": i + 1 for i in range(15)}
    top = funnel("tx_1", [shard], as_of=0)["top_errors"]
    assert [e["count"] for e in top] == list(range(15, 5, -1))


def test_an_unknown_transaction_is_a_funnel_of_zeros() -> None:
    answer = funnel("nobody", [], as_of=0)
    assert answer["total"] == 0
    assert answer["top_errors"] == []
    assert set(answer["by_status"].values()) == {0}


def test_daily_lists_every_day_oldest_first_with_zeros() -> None:
    days = days_until(date(2026, 12, 1), 3)
    assert days == ["2026-11-29", "2026-11-30", "2026-12-01"]
    answer = daily("app", days, {"2026-11-30": [{"n": 2, "s#DELIVERED": 2, "p#WEBPUSH": 2}]})
    assert [d["total"] for d in answer["days"]] == [0, 2, 0]
    assert answer["days"][1]["by_platform"] == {"IOS": 0, "ANDROID": 0, "WEBPUSH": 2}


def test_checked_stats_accepts_both_answers_and_refuses_garbage() -> None:
    tx = funnel("tx_1", [{"n": 1, "s#FAILED": 1, "p#IOS": 1, "e#x": 1}], as_of=9)
    assert checked_stats(tx) == tx
    app = daily("app", ["2026-12-01"], {})
    assert checked_stats(app) == app
    bad: object
    for bad in (
        None,
        [],
        {"transaction_id": "t"},
        tx | {"total": "1"},
        tx | {"top_errors": [{"error_msg": 3, "count": 1}]},
        tx | {"by_status": {"SENT": 1}},
        {"ap_id": "a", "days": [{"day": "d", "total": True}]},
    ):
        with pytest.raises(ValueError, match=r"\w"):
            checked_stats(bad)


def test_stats_query_takes_a_transaction_or_an_application_with_days() -> None:
    assert parse_query_body(QueryKind.STATS, b'{"transaction_id":"tx_002"}').normalised() == {
        "transaction_id": "tx_002"
    }
    query = parse_query_params(QueryKind.STATS, {"ap_id": ["mobile-app-001"]})
    assert isinstance(query, StatsQuery)
    assert query.normalised() == {"ap_id": "mobile-app-001", "days": 7}
    days = parse_query_params(QueryKind.STATS, {"ap_id": ["a"], "days": ["90"]}).normalised()
    assert days == {"ap_id": "a", "days": 90}


BAD_STATS_BODIES: list[tuple[dict[str, Any], str, str]] = [
    ({}, "transaction_id", "is required"),
    ({"transaction_id": "t", "ap_id": "a"}, "ap_id", "not both"),
    ({"transaction_id": "t", "days": 3}, "days", "with ap_id only"),
    ({"ap_id": "a", "days": 0}, "days", "between 1 and 90"),
    ({"ap_id": "a", "days": 91}, "days", "between 1 and 90"),
    ({"ap_id": "a", "days": "7"}, "days", "integer"),
    ({"ap_id": "no spaces"}, "ap_id", "letters, digits"),
    ({"transaction_id": "x" * 129}, "transaction_id", "1-128 characters"),
    ({"transaction_id": "t", "limit": 10}, "limit", "not a field"),
]


@pytest.mark.parametrize(("body", "field", "words"), BAD_STATS_BODIES)
def test_stats_query_refuses_bad_input_naming_the_field(
    body: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(Problem) as caught:
        parse_query_body(QueryKind.STATS, orjson.dumps(body))
    assert caught.value.status == 400
    assert [e.field for e in caught.value.errors] == [field]
    assert words in caught.value.errors[0].message

"""Delivery statistics: what one read item contributes to the counts, and the answers.

A delivery counts, by its current state, once in its transaction's funnel (total, by status,
by platform, and by failure reason while FAILED) and once in its application's day (the UTC
day of ``created_at``; total, by status, by platform). A state change of a read item moves
its counts by the difference of what the item contributed before and after it
(``count_deltas``), so the counts are exactly the sum over the read items as they are: a
change applied twice is no change the second time (the projection decides that), a status
change moves one delivery from one count to another, a removal takes it out.

Pure: the projection derives the deltas here and writes them with the read item; the Query
Result Lambda sums the stored counters here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from query_service.domain.records import Platform, Status

TOP_ERRORS = 10
# A failure reason is counted under its first characters: enough for every platform's
# reason texts, and it bounds what one reason costs in a counter item.
ERROR_CHARS = 200

# Counter names inside a scope's counter item.
TOTAL = "n"
STATUS_PREFIX = "s#"
PLATFORM_PREFIX = "p#"
ERROR_PREFIX = "e#"  # + the reason; a FAILED delivery without one counts under NO_ERROR
NO_ERROR = "e"
_COUNTER_PREFIXES = frozenset({STATUS_PREFIX, PLATFORM_PREFIX, ERROR_PREFIX})


class Scope(NamedTuple):
    """What a counter counts: a transaction (``day`` None) or an application's day."""

    kind: str  # "tx" or "app"
    id: str
    day: str | None = None

    @classmethod
    def transaction(cls, transaction_id: str) -> Scope:
        return cls("tx", transaction_id)

    @classmethod
    def app_day(cls, ap_id: str, day: str) -> Scope:
        return cls("app", ap_id, day)


def utc_day(epoch_ms: int) -> str:
    """``YYYY-MM-DD``, the UTC day of a millisecond timestamp."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).date().isoformat()


def error_counter(error_msg: str | None) -> str:
    return NO_ERROR if error_msg is None else ERROR_PREFIX + error_msg[:ERROR_CHARS]


def contribution(item: Mapping[str, Any] | None) -> Counter[tuple[Scope, str]]:
    """What one read item (None: no item) adds to the counts, counter by counter."""
    counts: Counter[tuple[Scope, str]] = Counter()
    if item is None:
        return counts
    status, platform = str(item["status"]), str(item["platform"])
    tx = Scope.transaction(str(item["transaction_id"]))
    names = [TOTAL, STATUS_PREFIX + status, PLATFORM_PREFIX + platform]
    for name in names:
        counts[tx, name] += 1
    if status == Status.FAILED.value:
        error = item.get("error_msg")
        counts[tx, error_counter(error if isinstance(error, str) else None)] += 1
    ap_id = item.get("ap_id")
    if isinstance(ap_id, str):
        day = Scope.app_day(ap_id, utc_day(int(item["created_at"])))
        for name in names:
            counts[day, name] += 1
    return counts


def count_deltas(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> dict[Scope, dict[str, int]]:
    """How a read item's change from ``before`` to ``after`` moves each scope's counters;
    only the counters that move, only the scopes with one that does."""
    delta = contribution(after)
    delta.subtract(contribution(before))
    moved: dict[Scope, dict[str, int]] = {}
    for (scope, name), value in sorted(delta.items()):
        if value:
            moved.setdefault(scope, {})[name] = value
    return moved


def _summed(counters: Iterable[Mapping[str, Any]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for counter in counters:
        for name, value in counter.items():
            if name in {TOTAL, NO_ERROR} or name[:2] in _COUNTER_PREFIXES:
                total[name] += int(value)
    return total


def _breakdown(total: Counter[str]) -> dict[str, Any]:
    return {
        "total": total[TOTAL],
        "by_status": {s.value: total[STATUS_PREFIX + s.value] for s in Status},
        "by_platform": {p.value: total[PLATFORM_PREFIX + p.value] for p in Platform},
    }


def funnel(
    transaction_id: str, counters: Iterable[Mapping[str, Any]], as_of: int
) -> dict[str, Any]:
    """A transaction's funnel from its counter items (one per shard, in any order)."""
    total = _summed(counters)
    errors = [
        (name.removeprefix(ERROR_PREFIX) if name != NO_ERROR else None, count)
        for name, count in total.items()
        if (name == NO_ERROR or name.startswith(ERROR_PREFIX)) and count
    ]
    # Most frequent first; equal counts in a stable order (by reason, no reason last).
    errors.sort(key=lambda e: (-e[1], e[0] is None, e[0] or ""))
    return {
        "transaction_id": transaction_id,
        **_breakdown(total),
        "top_errors": [{"error_msg": m, "count": c} for m, c in errors[:TOP_ERRORS]],
        "as_of": as_of,
    }


def days_until(today: date, days: int) -> list[str]:
    """The ``days`` UTC days ending with ``today``, oldest first."""
    return [(today - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]


def daily(
    ap_id: str, days: list[str], counters: Mapping[str, Iterable[Mapping[str, Any]]]
) -> dict[str, Any]:
    """An application's daily series: each day of ``days`` in order, zeros where no
    counter item exists; ``counters`` maps a day to its counter items."""
    return {
        "ap_id": ap_id,
        "days": [{"day": day, **_breakdown(_summed(counters.get(day, ())))} for day in days],
    }


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} is not a count")
    return value


def _checked_breakdown(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    by_status, by_platform = data.get("by_status"), data.get("by_platform")
    if not isinstance(by_status, Mapping) or not isinstance(by_platform, Mapping):
        raise ValueError(f"{where}: by_status or by_platform missing")
    return {
        "total": _count(data.get("total"), f"{where}.total"),
        "by_status": {s.value: _count(by_status.get(s.value), s.value) for s in Status},
        "by_platform": {p.value: _count(by_platform.get(p.value), p.value) for p in Platform},
    }


def checked_stats(data: object) -> dict[str, Any]:
    """A statistics answer from upstream, checked and rebuilt field by field (the ECS
    handler relays nothing it has not understood); ValueError if it is not one."""
    if not isinstance(data, Mapping):
        raise ValueError("statistics are not an object")
    if isinstance(data.get("transaction_id"), str):
        errors = data.get("top_errors")
        if not isinstance(errors, list) or len(errors) > TOP_ERRORS:
            raise ValueError("top_errors is not a list of at most 10")
        top = []
        for entry in errors:
            message = entry.get("error_msg") if isinstance(entry, Mapping) else 0
            if message is not None and not isinstance(message, str):
                raise ValueError("top_errors entry malformed")
            top.append({"error_msg": message, "count": _count(entry.get("count"), "count")})
        return {
            "transaction_id": data["transaction_id"],
            **_checked_breakdown(data, "funnel"),
            "top_errors": top,
            "as_of": _count(data.get("as_of"), "as_of"),
        }
    days = data.get("days")
    if not isinstance(data.get("ap_id"), str) or not isinstance(days, list):
        raise ValueError("neither a funnel nor a daily series")
    series = []
    for entry in days:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("day"), str):
            raise ValueError("days entry malformed")
        series.append({"day": entry["day"], **_checked_breakdown(entry, entry["day"])})
    return {"ap_id": data["ap_id"], "days": series}

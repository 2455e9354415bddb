"""The statistics' truth, recomputed from the read table, and the counters as stored: a
test of exactness compares the two (after faults, replays, restarts)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from query_service.domain.statistics import Scope, contribution
from query_service.storage.statistics import COUNTER_GRACE_SECONDS, counter_key, shard_of
from query_service.storage.tables import TTL_ATTRIBUTE

Counts = Counter[tuple[str, str]]


def _scope_label(scope: Scope) -> str:
    """A counter item's key without its shard: the scope it counts."""
    return counter_key(scope, 0).rsplit("#", 1)[0]


def truth(read_items: Iterable[Mapping[str, Any]]) -> Counts:
    """Every counter's value as the read items say it must be (zeros left out)."""
    counts: Counts = Counter()
    for item in read_items:
        for (scope, name), value in contribution(item).items():
            counts[_scope_label(scope), name] += value
    return +counts


def stored(counter_items: Iterable[Mapping[str, Any]]) -> Counts:
    """The counters summed over their shards (zeros left out; negatives kept, to be seen)."""
    counts: Counts = Counter()
    for item in counter_items:
        scope = str(item["pk"]).rsplit("#", 1)[0]
        for name, value in item.items():
            if name in {"n", "e"} or name[:2] in {"s#", "p#", "e#"}:
                counts[scope, name] += int(value)
    return Counter({k: v for k, v in counts.items() if v})


def without_expiry(counter_items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The counter items by key, a counter at 0 as absent (an ADD that went up and down
    again), without their expires_at: each write sets it from the clock, so two runs of the
    same changes differ in it (``assert_counters_outlive`` checks it instead)."""
    items = [{k: v for k, v in i.items() if v != 0 and k != TTL_ATTRIBUTE} for i in counter_items]
    return sorted(items, key=lambda i: str(i["pk"]))


def assert_counters_outlive(
    counter_items: Iterable[Mapping[str, Any]], read_items: Iterable[Mapping[str, Any]]
) -> None:
    """Every counter item a read item counts in expires at least the grace after it."""
    expiry = {str(i["pk"]): int(i[TTL_ATTRIBUTE]) for i in counter_items}
    for item in read_items:
        shard = shard_of(str(item["transaction_id"]), str(item["user_id"]))
        for scope, _ in contribution(item):
            key = counter_key(scope, shard)
            assert expiry[key] >= int(item[TTL_ATTRIBUTE]) + COUNTER_GRACE_SECONDS, key

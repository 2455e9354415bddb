"""The statistics' truth, recomputed from the read table, and the counters as stored: a
test of exactness compares the two (after faults, replays, restarts)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from query_service.domain.statistics import Scope, contribution
from query_service.storage.statistics import counter_key

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

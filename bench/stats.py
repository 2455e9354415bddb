"""Pure arithmetic of the benchmark: run summaries, CDFs, ratios, targets.

Kept free of I/O so ``tests/unit/test_bench.py`` pins it down.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def percentiles(values: Sequence[float]) -> list[float]:
    """The 0th to 100th percentiles of ``values`` (101 figures), interpolated between
    closest ranks: ``statistics``' inclusive method, the definition numpy uses by default,
    so figures agree with anyone who recomputes them from the raw latencies."""
    if not values:
        return [math.nan] * 101
    if len(values) == 1:
        return [float(values[0])] * 101
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return [float(min(values)), *cuts, float(max(values))]


def percentile(values: Sequence[float], q: int) -> float:
    """The q-th percentile (0..100) of ``values``."""
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    return percentiles(values)[q]


def summarise(latencies_ms: Sequence[float], errors: int, elapsed_s: float) -> dict[str, Any]:
    """One load run as the figures the summary quotes (latencies of successes only)."""
    ok = len(latencies_ms)
    total = ok + errors
    cuts = percentiles(latencies_ms)
    return {
        "requests": total,
        "errors": errors,
        "error_rate": errors / total if total else 0.0,
        "elapsed_s": round(elapsed_s, 3),
        "throughput_rps": round(total / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        "p50_ms": round(cuts[50], 2) if ok else None,
        "p95_ms": round(cuts[95], 2) if ok else None,
        "p99_ms": round(cuts[99], 2) if ok else None,
        "max_ms": round(cuts[100], 2) if ok else None,
    }


def cdf_points(latencies_ms: Sequence[float], points: int = 200) -> list[tuple[float, float]]:
    """(latency, fraction ≤ latency) at up to ``points`` evenly spaced ranks, for plotting."""
    ordered = sorted(latencies_ms)
    n = len(ordered)
    if n == 0:
        return []
    step = max(1, n // points)
    ranks = [*range(0, n, step), n - 1] if (n - 1) % step else list(range(0, n, step))
    return [(round(ordered[i], 3), round((i + 1) / n, 4)) for i in ranks]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return round(numerator / denominator, 3)


def get(data: Mapping[str, Any], *path: str) -> Any:
    """``data[path[0]][path[1]]...``, or None where the document has no such figure."""
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    measured: float | None
    limit: float
    unit: str
    higher_is_better: bool = False

    @property
    def met(self) -> bool | None:
        if self.measured is None or math.isnan(self.measured):
            return None
        if self.higher_is_better:
            return self.measured >= self.limit
        return self.measured <= self.limit if self.unit == "x" else self.measured < self.limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": self.measured,
            "limit": self.limit,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "met": self.met,
        }

"""Pure arithmetic of the benchmark: percentiles, run summaries, /proc parsing, targets.

Kept free of I/O so ``tests/unit/test_bench_stats.py`` pins it down.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks.

    The same definition as numpy's default, so figures agree with anyone who recomputes
    them from the raw latencies.
    """
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(latencies_ms: Sequence[float], errors: int, elapsed_s: float) -> dict[str, Any]:
    """One load run as the figures the summary quotes (latencies of successes only)."""
    ok = len(latencies_ms)
    total = ok + errors
    return {
        "requests": total,
        "errors": errors,
        "error_rate": errors / total if total else 0.0,
        "elapsed_s": round(elapsed_s, 3),
        "throughput_rps": round(total / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        "p50_ms": round(percentile(latencies_ms, 50), 2) if ok else None,
        "p95_ms": round(percentile(latencies_ms, 95), 2) if ok else None,
        "p99_ms": round(percentile(latencies_ms, 99), 2) if ok else None,
        "max_ms": round(max(latencies_ms), 2) if ok else None,
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


# -- /proc -------------------------------------------------------------------------------


def cpu_ticks(stat_text: str) -> int:
    """utime + stime (clock ticks) from the text of /proc/<pid>/stat.

    The command name (field 2) is in parentheses and may hold spaces, so fields are
    counted from the last ')'.
    """
    rest = stat_text[stat_text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(rest[11]) + int(rest[12])


def parent_pid(stat_text: str) -> int:
    """The parent's pid (field 4) from the text of /proc/<pid>/stat."""
    return int(stat_text[stat_text.rindex(")") + 2 :].split()[1])


TIER_MARKERS = (
    ("dynamodb", ("DynamoDBLocal.jar", "moto.server")),
    ("stream", ("local stream",)),
    ("internal", ("gateway internal",)),
    ("ecs", ("query_service.ecs.app:app",)),
    ("public", ("gateway public",)),
)


def tier_of(command_line: str) -> str | None:
    """Which tier of ``query-service local up`` a child process's command line is."""
    for tier, markers in TIER_MARKERS:
        if any(marker in command_line for marker in markers):
            return tier
    return None


def rss_kib(status_text: str) -> int:
    """VmRSS in KiB from the text of /proc/<pid>/status (0 for a zombie without one)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def busy_and_total(cpu_line: str) -> tuple[int, int]:
    """(busy, total) ticks from the aggregate ``cpu`` line of /proc/stat (idle and iowait
    are not busy; guest time is already inside user time and is not counted twice)."""
    fields = [int(v) for v in cpu_line.split()[1:9]]
    total = sum(fields)
    return total - fields[3] - fields[4], total


def cpu_percent(ticks_before: int, ticks_after: int, wall_s: float, ticks_per_s: int) -> float:
    """CPU used over a wall interval, in percent of one core (200 % = both cores busy)."""
    if wall_s <= 0:
        return 0.0
    return round(100 * (ticks_after - ticks_before) / ticks_per_s / wall_s, 1)


# -- targets -----------------------------------------------------------------------------


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


def _get(data: Mapping[str, Any], *path: str) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return round(numerator / denominator, 3)


def evaluate_targets(results: Mapping[str, Any]) -> list[Target]:
    """The issue's targets, read from the result document (a missing figure is not met)."""
    chain = _get(results, "chain", "runs") or []

    def run(path: str, concurrency: int) -> Mapping[str, Any]:
        found = [r for r in chain if r["path"] == path and r["concurrency"] == concurrency]
        return found[0] if found else {}

    c10 = [run(p, 10) for p in ("/query/user", "/query/fail")]
    c50 = [run(p, 50) for p in ("/query/user", "/query/fail")]
    p99s: list[float] = [r["p99_ms"] for r in c10 if r.get("p99_ms") is not None]
    targets = [
        Target(
            "chain p99 at c=10 (worst path)",
            max(p99s) if len(p99s) == len(c10) else None,
            100,
            "ms",
        ),
        Target(
            "chain errors at c=10",
            sum(r.get("errors", 0) for r in c10) if all(c10) else None,
            1,
            "errors",
        ),
        Target(
            "chain errors at c=50",
            sum(r.get("errors", 0) for r in c50) if all(c50) else None,
            1,
            "errors",
        ),
    ]
    for upstream, label in (("internal_upstream", "internal gateway"), ("stub_upstream", "stub")):
        ratios = _get(results, "floor", upstream, "ratios") or {}
        targets += [
            Target(
                f"ECS handler / floor throughput, upstream: {label}",
                ratios.get("ecs_over_floor"),
                0.7,
                "x",
                higher_is_better=True,
            ),
            Target(
                f"pooled / naive throughput, upstream: {label}",
                ratios.get("pooled_over_naive"),
                1.5,
                "x",
                higher_is_better=True,
            ),
        ]
    for query in ("user", "fail"):
        targets.append(
            Target(
                f"/query/{query} p50 at 100k / at 1k",
                _get(results, "scale", "ratios", query),
                1.25,
                "x",
            )
        )
    for module, ms in (_get(results, "cold_start", "import_ms") or {}).items():
        targets.append(Target(f"import {module}", ms, 300, "ms"))
    rss = _get(results, "chain", "ecs_rss_mib_after")
    targets.append(Target("ECS handler RSS after the chain runs", rss, 150, "MiB"))
    return targets

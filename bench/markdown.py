"""The summary's small pieces: numbers, tables, verdicts, CPU per request."""

from __future__ import annotations

from typing import Any


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return lines


def verdict(met: bool | None) -> str:
    return {True: "**pass**", False: "**MISS**", None: "not measured"}[met]


def cpu_us_per_request(cpu_percent: float | None, rps: float | None) -> float | None:
    """CPU time one request cost a process, in µs: steadier than throughput when other
    work crowds the machine, since waiting for a core costs no CPU."""
    if cpu_percent is None or not rps:
        return None
    return round(cpu_percent / 100 * 1e6 / rps)

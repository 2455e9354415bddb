"""The console's bench section: its targets hold only for pages that answered as they should."""

from __future__ import annotations

from typing import Any

from bench.sections import console


def _page(path: str, status: int, p95: float, weight_kb: float) -> dict[str, Any]:
    return {
        "path": path,
        "statuses": [status],
        "as_expected": status == (303 if "search" in path else 200),
        "requests": 30,
        "p50_ms": p95 / 2,
        "p95_ms": p95,
        "max_ms": p95,
        "render_p50_ms": 5.0,
        "rows": 100,
        "html_bytes": int(weight_kb * 1024) - 10_000,
        "asset_bytes": 10_000,
        "weight_kb": weight_kb,
    }


def _results(**overrides: tuple[int, float, float]) -> dict[str, Any]:
    pages = {}
    for name, (path, expected) in console.PAGES.items():
        status, p95, weight = overrides.get(name.split()[0], (expected, 120.0, 90.0))
        pages[name] = _page(path, status, p95, weight)
    return {"console": {"pages": pages}}


def test_the_targets_are_the_worst_page() -> None:
    time, weight = console.targets(_results(transaction=(200, 320.0, 149.0)))
    assert (time.measured, time.met) == (320.0, False)
    assert (weight.measured, weight.met) == (149.0, True)


def test_a_page_that_did_not_answer_as_it_should_is_not_measured() -> None:
    assert all(t.met is None for t in console.targets(_results(delivery=(501, 10.0, 12.0))))
    assert all(t.met is None for t in console.targets({}))


def test_the_table_has_a_row_per_page() -> None:
    lines = console.render(_results()["console"])
    rows = [line for line in lines if line.startswith("| ") and "`/console" in line]
    assert len(rows) == len(console.PAGES)
    assert all(row.count("|") == lines[2].count("|") for row in rows)

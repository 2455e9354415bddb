"""The chain benchmark's DynamoDB warm-up: the chain's own reads, counted, before it measures."""

from __future__ import annotations

import os
from collections import Counter

from bench.section import Stack
from bench.sections.chain import WARM_UP_BATCHES, render, warm_dynamodb

from tests.component.conftest import Tables
from tests.support import command


def test_the_warm_up_makes_the_chains_own_reads_and_reports_each_batch(tables: Tables) -> None:
    tables.put(
        command(transaction_id="tx_001", user_id="test_user_001", status="DELIVERED"),
        command(transaction_id="tx_002", user_id="test_user_001", status="FAILED"),
    )
    # moto runs in this process: its CPU is this process's.
    stack = Stack({}, {"dynamodb": os.getpid()}, tables.client, "notification-records")
    tables.calls.clear()
    warmed = warm_dynamodb(stack, 24)
    assert warmed["queries"] == 24
    assert len(warmed["cpu_ms_per_query"]) == WARM_UP_BATCHES
    assert all(ms > 0 for ms in warmed["cpu_ms_per_query"])
    # /query/user, /query/fail and /query/delivery's reads, a third each: Query calls only.
    assert Counter(tables.calls) == Counter({"Query": 24})


def test_the_summary_says_how_dynamodb_local_was_warmed_and_reads_documents_without_it() -> None:
    run = {
        "path": "/query/user",
        "concurrency": 10,
        "requests": 10,
        "errors": 0,
        "throughput_rps": 100.0,
        "p50_ms": 1.0,
        "p95_ms": 2.0,
        "p99_ms": 3.0,
        "tiers": {"ecs": {"cpu_percent": 30.0, "rss_mib": 80.0}},
    }
    earlier = {"runs": [run], "ecs_requests_served": 100}
    assert not any("warmed" in line or "Before the runs" in line for line in render(earlier))
    warmed = {**earlier, "dynamodb_warm_up": {"queries": 8000, "cpu_ms_per_query": [3.5, 1.9]}}
    line = next(line for line in render(warmed) if line.startswith("Before the runs"))
    assert "8,000" in line and "3.5 → 1.9" in line

"""/query/stats through the chain, and what keeping the statistics costs the projection.

Two transactions are written to the stack's command table the way the push sender writes
them (SENT, then the outcome) and counted by the stack's own stream tier: one of 100
deliveries, one of 10,000. Their funnels are then read through the public gateway at the
same concurrency as ``/query/user``: the read is one BatchGetItem of 16 counter shards, so
the two should cost the same.

The projection's cost per delivery is measured with statistics on and off: a stream tier of
this section's own (``query-service local stream``, as the stack runs it) projects the same
simulated traffic into fresh tables, with a statistics table and without
(``STATS_TABLE_NAME`` empty), twice each, interleaved. The figures per delivery: the time
from the first write until the read side holds every outcome, and the CPU the stream tier
and DynamoDB Local spent (what a loaded machine distorts least).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.load import LoadResult, run_load, warm_up
from bench.markdown import table
from bench.procs import cpu_seconds
from bench.section import USER_BODY, Bench, Results, Section, measured
from bench.stats import Target, get
from query_service.local.dynamodb import ensure_tables
from query_service.local.processes import die_with_parent, stop
from query_service.local.simulate import Plan, simulate
from query_service.storage.statistics import StatsRepository
from query_service.storage.tables import COMMAND_TABLE, NOTIFICATION_TABLE, STATS_TABLE

CONCURRENCY = 10
ROUNDS = 3


def _stats_body(transaction_id: str) -> bytes:
    return orjson.dumps({"transaction_id": transaction_id})


@contextmanager
def _stream_tier(
    bench: Bench, tables: dict[str, str], state: Path
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DYNAMODB_ENDPOINT_URL": bench.stack.urls["dynamodb"],
        "COMMAND_TABLE_NAME": tables["command"],
        "NOTIFICATION_TABLE_NAME": tables["read"],
        "STATS_TABLE_NAME": tables["stats"],
        "LOG_LEVEL": "WARNING",
    }
    argv = [sys.executable, "-m", "query_service.cli", "local", "stream", "--state-dir"]
    with (bench.workdir / f"stream-{tables['read']}.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own argv
            [*argv, str(state)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    try:
        yield process
    finally:
        stop(process, timeout=15)


def _projection_cost(bench: Bench, statistics: bool, round_: int) -> dict[str, Any]:
    """Seconds per delivery from its first write until the read side holds its outcome."""
    mode = ("on" if statistics else "off") + str(round_)
    traffic = Plan(
        users=100,
        transactions=bench.plan.stats_projection_transactions,
        failure_rate=0.1,
        seed=5,
        run_id=f"bstat{mode}",
    )
    tables = {
        "command": f"bench-stats-{mode}-command-records",
        "read": f"bench-stats-{mode}-notification-records",
        "stats": f"bench-stats-{mode}-delivery-stats" if statistics else "",
    }
    client = bench.stack.client
    ensure_tables(client, tables["command"], tables["read"], tables["stats"] or None)
    # CPU is what a loaded machine distorts least: the section's stream tier, and DynamoDB
    # Local (its puts are the same in both runs; the counters' transactions are not).
    dynamodb = psutil.Process(bench.stack.pids["dynamodb"])
    dynamodb_before = cpu_seconds(dynamodb)
    try:
        state = bench.workdir / f"stream-state-{mode}"
        with _stream_tier(bench, tables, state) as tier, open(os.devnull, "w") as quiet:
            outcome = simulate(
                client, tables["command"], tables["read"], traffic, timeout=900.0, out=quiet
            )
            stream_cpu = cpu_seconds(psutil.Process(tier.pid))
    finally:
        for name in tables.values():
            if name:
                client.delete_table(TableName=name)
    dynamodb_cpu = cpu_seconds(dynamodb) - dynamodb_before
    total = outcome.write_seconds + (outcome.catch_up_seconds or 0.0)
    per = 1000 / outcome.deliveries
    bench.say(
        f"statistics {mode}: {outcome.deliveries} deliveries written in "
        f"{outcome.write_seconds:.1f} s, read side caught up {outcome.catch_up_seconds:.1f} s "
        f"later; stream tier CPU {stream_cpu:.1f} s, DynamoDB Local CPU {dynamodb_cpu:.1f} s"
    )
    return {
        "statistics": statistics,
        "deliveries": outcome.deliveries,
        "write_s": round(outcome.write_seconds, 2),
        "catch_up_s": round(outcome.catch_up_seconds or 0.0, 2),
        "ms_per_delivery": round(total * per, 3),
        "stream_cpu_ms_per_delivery": round(stream_cpu * per, 3),
        "dynamodb_cpu_ms_per_delivery": round(dynamodb_cpu * per, 3),
        "load_1min": round(os.getloadavg()[0], 1),
    }


def measure(bench: Bench) -> dict[str, Any]:
    public, client = bench.stack.urls["public"], bench.stack.client
    settings_tables = (COMMAND_TABLE, NOTIFICATION_TABLE)
    sizes, requests = bench.plan.stats_sizes, bench.plan.stats_requests
    transactions: dict[int, str] = {}
    load: list[float] = []
    for size in sizes:
        plan = Plan(users=size, transactions=1, failure_rate=0.1, seed=size, run_id=f"b{size}")
        with open(os.devnull, "w") as quiet:
            outcome = simulate(client, *settings_tables, plan, timeout=900.0, out=quiet)
        transactions[size] = f"sim_b{size}_tx_00000"
        bench.say(f"stats: a transaction of {size:,} deliveries counted ({outcome.failed} FAILED)")
    runs: list[dict[str, Any]] = []
    loads = [("/query/user", "user", USER_BODY)] + [
        ("/query/stats", f"stats {size:,}", _stats_body(tx)) for size, tx in transactions.items()
    ]
    for path, _, body in loads:
        warm_up(public + path, body)
    # In interleaved rounds, so that a change of the machine's load between one query's
    # run and the next does not decide the ratio (seen at load ~20: 1.08 and 1.48).
    pooled = {label: LoadResult() for _, label, _ in loads}
    for _ in range(ROUNDS):
        for path, label, body in loads:
            result = run_load(public + path, body, CONCURRENCY, requests=requests // ROUNDS)
            into = pooled[label]
            into.latencies_ms += result.latencies_ms
            into.statuses.update(result.statuses)
            into.errors += result.errors
            into.elapsed_s += result.elapsed_s
        load.append(os.getloadavg()[0])
    for label, result in pooled.items():
        run = measured(result, label=label, concurrency=CONCURRENCY)
        runs.append(run)
        bench.say(f"stats {label} c={CONCURRENCY}: p50 {run['p50_ms']} ms, {run['errors']} errors")
    counted = StatsRepository(client, STATS_TABLE).transaction(transactions[sizes[-1]])["total"]
    started = time.monotonic()
    # Off and on twice, interleaved, so that a change in the machine's load shows.
    projection = [_projection_cost(bench, on, r) for r in (1, 2) for on in (False, True)]
    return {
        "sizes": list(sizes),
        "requests": requests,
        "runs": runs,
        "load_1min_during_runs": [round(x, 1) for x in load],
        "counted_total": counted,
        "projection": projection,
        "projection_seconds": round(time.monotonic() - started, 1),
        "load_1min_after_projection": round(os.getloadavg()[0], 1),
    }


def _run(results: Results, label: str) -> dict[str, Any]:
    for run in get(results, "statistics", "runs") or []:
        if run["label"] == label:
            return run  # type: ignore[no-any-return]
    return {}


def _ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> float | None:
    top, bottom = numerator.get("p50_ms"), denominator.get("p50_ms")
    if top is None or not bottom:
        return None
    return round(float(top) / float(bottom), 3)


def render(section: Results) -> list[str]:
    rows = [
        [r["label"], r["concurrency"], r["requests"], r["errors"], r["p50_ms"], r["p99_ms"]]
        for r in section["runs"]
    ]
    sizes = section.get("sizes") or [0]
    lines = [
        f"Through the public gateway, {section.get('requests')} requests each at "
        f"c={CONCURRENCY}, in {ROUNDS} interleaved rounds; the {sizes[-1]:,}-delivery "
        "transaction's funnel counted "
        f"{section['counted_total']:,}. 1-minute load average during the runs: "
        f"{section.get('load_1min_during_runs')} (2 cores).",
        "",
        *table(["query", "c", "requests", "errors", "p50 ms", "p99 ms"], rows),
        "",
        "Projection with statistics off and on (the same simulated traffic, a stream tier of "
        "its own, fresh tables): time from the first write until the read side held every "
        f"outcome, per delivery; load average {section.get('load_1min_after_projection')} after.",
        "",
    ]
    lines += table(
        [
            "statistics",
            "deliveries",
            "write s",
            "catch-up s",
            "ms per delivery",
            "stream tier CPU ms per delivery",
            "DynamoDB Local CPU ms per delivery",
            "load (1 min)",
        ],
        [
            [
                "on" if p["statistics"] else "off",
                p["deliveries"],
                p["write_s"],
                p["catch_up_s"],
                p["ms_per_delivery"],
                p.get("stream_cpu_ms_per_delivery", "-"),
                p.get("dynamodb_cpu_ms_per_delivery", "-"),
                p.get("load_1min", "-"),
            ]
            for p in section["projection"]
        ],
    )
    return lines


def targets(results: Results) -> list[Target]:
    user = _run(results, "user")
    sizes = get(results, "statistics", "sizes") or [0]
    small, big = _run(results, f"stats {sizes[0]:,}"), _run(results, f"stats {sizes[-1]:,}")
    return [
        Target("stats p50 / user p50 (c=10)", _ratio(big, user), 1.25, "x"),
        Target(
            f"stats p50, {sizes[-1]:,} / {sizes[0]:,} deliveries", _ratio(big, small), 1.25, "x"
        ),
    ]


SECTION = Section(
    key="statistics",
    heading="## Statistics: /query/stats through the chain, and the projection's cost",
    measure=measure,
    render=render,
    targets=targets,
)

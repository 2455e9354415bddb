"""The projection alone: CPU per stream record of the stream tier and DynamoDB Local.

Issue 13's acceptance: projection throughput may not fall by more than 10 % against the
projection before timelines (806968d). On two cores, where the stream tier and DynamoDB
Local are CPU-bound, throughput is the inverse of the CPU they spend per record, and CPU is
what a loaded machine distorts least (records per second follow the load; they are shown,
not judged).

Each round writes the same simulated traffic (``simulate``'s plan: 100 users, failure rate
0.1, seed 7; SENT, outcomes, the timed-out ones sent again) into fresh tables of a DynamoDB
Local of its own, with no stream tier running; then ``query-service local stream`` (the
stack's own stream tier, statistics off) projects the whole stream from its start. The CPU
of both processes is read when the read side holds the outcome of the last write (one
consistent GetItem every half second: DynamoDB Local has one shard, so that is the stream's
last record), then every outcome is checked. Watching the whole read side while it fills
would cost DynamoDB Local more than the projection's own reads (a BatchGetItem of every
delivery still missing, every second).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Any

import psutil

from bench.markdown import table
from bench.procs import cpu_seconds
from bench.section import Bench, Results, Section
from bench.stats import Target, get
from query_service.local.commands import batch_put, wait_until_projected
from query_service.local.dynamodb import ensure_tables
from query_service.local.processes import die_with_parent, stop
from query_service.local.simulate import Plan, plan_records
from query_service.storage.dynamo import dynamodb_client
from query_service.storage.projection import read_key
from tests.harness import start_dynamodb

# CPU per stream record (stream tier + DynamoDB Local) of the projection before timelines,
# 806968d, measured by this section's method (100 users x 40 transactions, 8,200 records):
# the mean of 5.12 and 4.47 ms, 2026-12-01 on a loaded machine (bench/RESULTS.md, issue 13,
# "Projection alone, measured again"). The figure of 5.26 ms above it there was taken with an
# observer that read every missing delivery each second, counted as projection CPU.
BEFORE_CPU_MS_PER_RECORD = 4.8
ALLOWED = 1.10  # "does not fall by more than 10 %"
USERS = 100


def _tree_cpu(process: psutil.Process) -> float:
    """CPU seconds of a process and its children (DynamoDB Local is java under a launcher)."""
    total = cpu_seconds(process)
    for child in process.children(recursive=True):
        try:
            total += cpu_seconds(child)
        except psutil.NoSuchProcess:
            continue
    return total


def _round(bench: Bench, endpoint: str, dynamodb: psutil.Process, n: int) -> dict[str, Any]:
    from query_service.config import Settings

    client = dynamodb_client(Settings(dynamodb_endpoint_url=endpoint), timeout=30.0)
    tables = {"command": f"bench-proj{n}-command-records", "read": f"bench-proj{n}-reads"}
    ensure_tables(client, tables["command"], tables["read"])
    plan = Plan(USERS, bench.plan.projection_transactions, 0.1, seed=7, run_id=f"bproj{n}")
    traffic = plan_records(plan, int(time.time() * 1000))
    records = sum(batch_put(client, tables["command"], r) for r in traffic.rounds)
    last = next(r[-1] for r in reversed(traffic.rounds) if r)
    where = read_key(last, int(last["created_at"]))
    key = {"user_id": {"S": where["user_id"]}, "sk": {"S": where["sk"]}}
    env = {
        **os.environ,
        "DYNAMODB_ENDPOINT_URL": endpoint,
        "COMMAND_TABLE_NAME": tables["command"],
        "NOTIFICATION_TABLE_NAME": tables["read"],
        "STATS_TABLE_NAME": "",
        "LOG_LEVEL": "WARNING",
    }
    argv = [sys.executable, "-m", "query_service.cli", "local", "stream", "--state-dir"]
    load = os.getloadavg()[0]
    dynamodb_before = _tree_cpu(dynamodb)
    started = time.monotonic()
    with (bench.workdir / f"projection-stream{n}.log").open("ab") as log:
        tier = subprocess.Popen(  # noqa: S603 - our own argv
            [*argv, str(bench.workdir / f"projection-state{n}")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    try:
        process = psutil.Process(tier.pid)
        deadline = started + 900
        while True:
            item = client.get_item(TableName=tables["read"], Key=key, ConsistentRead=True).get(
                "Item"
            )
            if item and int(item["updated_at"]["N"]) >= int(last["updated_at"]):
                break
            if tier.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the stream tier stopped or fell behind: see its log")
            time.sleep(0.5)
        seconds = time.monotonic() - started
        stream_cpu = cpu_seconds(process)
        dynamodb_cpu = _tree_cpu(dynamodb) - dynamodb_before
        wait_until_projected(client, tables["read"], traffic.finals(), timeout=120, process=tier)
    finally:
        stop(tier, timeout=15)
        for name in tables.values():
            client.delete_table(TableName=name)
    per = 1000 / records
    figures = {
        "records": records,
        "seconds": round(seconds, 1),
        "records_per_s": round(records / seconds, 1),
        "stream_cpu_ms_per_record": round(stream_cpu * per, 3),
        "dynamodb_cpu_ms_per_record": round(dynamodb_cpu * per, 3),
        "cpu_ms_per_record": round((stream_cpu + dynamodb_cpu) * per, 3),
        "load_1min": [round(load, 1), round(os.getloadavg()[0], 1)],
    }
    bench.say(
        f"projection round {n}: {records:,} records in {seconds:.1f} s, CPU per record "
        f"{figures['stream_cpu_ms_per_record']} ms stream tier + "
        f"{figures['dynamodb_cpu_ms_per_record']} ms DynamoDB Local"
    )
    return figures


def measure(bench: Bench) -> dict[str, Any]:
    dynamodb = start_dynamodb(bench.workdir / "projection-dynamodb.log")
    try:
        if dynamodb.engine != "dynamodb-local":
            return {"skipped": f"DynamoDB Local is not available (engine {dynamodb.engine})"}
        process = psutil.Process(dynamodb.process.pid)
        # The first round also warms DynamoDB Local's JIT up: it is shown, not counted.
        rounds = [
            _round(bench, dynamodb.endpoint, process, n)
            for n in range(bench.plan.projection_rounds + 1)
        ]
    finally:
        dynamodb.stop()
    counted = rounds[1:]
    return {
        "users": USERS,
        "transactions": bench.plan.projection_transactions,
        "rounds": rounds,
        "cpu_ms_per_record": round(statistics.median(r["cpu_ms_per_record"] for r in counted), 3),
        "before_cpu_ms_per_record": BEFORE_CPU_MS_PER_RECORD,
    }


def render(section: Results) -> list[str]:
    if "skipped" in section:
        return [f"Not measured: {section['skipped']}."]
    lines = [
        f"{section['users']} users x {section['transactions']} transactions of `simulate`'s "
        "plan, written first, then projected by the stack's own stream tier (statistics off) "
        "on a DynamoDB Local of the section's own; round 0 warms DynamoDB Local up and is not "
        f"counted. Median CPU per record of the others: **{section['cpu_ms_per_record']} ms**; "
        f"before timelines (806968d, same method): {section['before_cpu_ms_per_record']} ms.",
        "",
    ]
    rows = [
        [
            n,
            r["records"],
            r["seconds"],
            r["records_per_s"],
            f"{r['stream_cpu_ms_per_record']:.2f}",
            f"{r['dynamodb_cpu_ms_per_record']:.2f}",
            f"{r['cpu_ms_per_record']:.2f}",
            " -> ".join(str(x) for x in r["load_1min"]),
        ]
        for n, r in enumerate(section["rounds"])
    ]
    header = [
        "round",
        "records",
        "s",
        "records/s",
        "stream tier CPU ms/record",
        "DynamoDB Local CPU ms/record",
        "both",
        "load (1 min)",
    ]
    return lines + table(header, rows)


def targets(results: Results) -> list[Target]:
    measured = get(results, "projection", "cpu_ms_per_record")
    return [
        Target(
            f"projection CPU per record / before ({BEFORE_CPU_MS_PER_RECORD} ms at 806968d)",
            None if measured is None else round(float(measured) / BEFORE_CPU_MS_PER_RECORD, 3),
            ALLOWED,
            "x",
        )
    ]


SECTION = Section(
    key="projection",
    heading="## Projection alone: CPU per stream record (issue 13)",
    measure=measure,
    render=render,
    targets=targets,
    needs_stack=False,
)

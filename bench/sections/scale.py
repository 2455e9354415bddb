"""Query latency against the read table's size, through the chain and from DynamoDB alone."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bench.load import run_load, warm_up
from bench.markdown import fmt, table
from bench.plots import label, new_figure, save
from bench.section import Bench, Results, Section, measured
from bench.sections.floor import time_dynamodb
from bench.stats import Target, get, ratio, summarise

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HOT_USER = "bench_hot_user"
HOT_CAMPAIGN = "bench_hot_campaign"


def scale_records(start: int, stop: int, now_ms: int) -> Iterator[dict[str, Any]]:
    """Read items ``start``..``stop`` of the scale table, newest last.

    One in ten goes to the hot user (many records), one in ten is a delivery of the hot
    campaign, of which few fail (the first 20, then one in a hundred); the rest are many
    users with five records each, 5 % of them failed, over many campaigns.
    """
    from query_service.storage.projection import project_record

    for i in range(start, stop):
        created = now_ms - 10_000_000 + i
        status, error = "DELIVERED", None
        if i % 10 == 0:
            user, tx = HOT_USER, f"bench_tx_{i // 10:06d}"
        elif i % 10 == 1:
            j = i // 10
            user, tx = f"bench_campaign_user_{j:06d}", HOT_CAMPAIGN
            if j < 20 or j % 100 == 0:
                status, error = "FAILED", "Device token invalid"
        else:
            user, tx = f"bench_user_{i // 5:06d}", f"bench_tx_{i // 50:06d}"
            if i % 20 == 7:
                status, error = "FAILED", "Network timeout"
        yield project_record(
            {
                "transaction_id": tx,
                "user_id": user,
                "created_at": created,
                "status": status,
                "platform": ("IOS", "ANDROID", "WEBPUSH")[i % 3],
                "notification_title": "Your weekly summary",
                "ap_id": "mobile-app-001",
                "error_msg": error,
            }
        )


def load_read_table(client: DynamoDBClient, read_table: str, items: list[dict[str, Any]]) -> None:
    """Batch writes straight into the read table, four writers at a time."""
    from query_service.local.commands import batch_put

    chunks = [items[i : i + 500] for i in range(0, len(items), 500)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda chunk: batch_put(client, read_table, chunk), chunks))


def measure(bench: Bench) -> dict[str, Any]:
    public, client, read_table = bench.stack.urls["public"], bench.stack.client, bench.stack.table
    plan, say = bench.plan, bench.say
    queries = {
        "user": (
            public + "/query/user",
            orjson.dumps({"user_id": HOT_USER, "limit": 10}),
            {
                "KeyConditionExpression": "user_id = :u",
                "ExpressionAttributeValues": {":u": {"S": HOT_USER}},
            },
        ),
        "fail": (
            public + "/query/fail",
            orjson.dumps({"transaction_id": HOT_CAMPAIGN}),
            {
                "IndexName": "failures-index",
                "KeyConditionExpression": "failed_tx = :t",
                "ExpressionAttributeValues": {":t": {"S": HOT_CAMPAIGN}},
            },
        ),
    }
    now_ms = int(time.time() * 1000)
    loaded = 0
    steps = []
    for size in plan.scale_sizes:
        started = time.perf_counter()
        load_read_table(client, read_table, list(scale_records(loaded, size, now_ms)))
        load_s = time.perf_counter() - started
        loaded = size
        step: dict[str, Any] = {"records": size, "load_s": round(load_s, 1)}
        for name, (url, body, query) in queries.items():
            warm_up(url, body, concurrency=1, requests=50)
            result = run_load(url, body, 1, requests=plan.scale_requests)
            times = time_dynamodb(client, read_table, query, plan.scale_requests)
            step[name] = {
                "chain": measured(result, concurrency=1),
                "dynamodb": summarise(times, 0, sum(times) / 1000),
                "items": _items(url, body),
            }
        say(
            f"scale {size:,} records (loaded in {load_s:.1f} s): user p50 "
            f"{step['user']['chain']['p50_ms']} ms, fail p50 {step['fail']['chain']['p50_ms']} ms"
        )
        steps.append(step)
    first, last = steps[0], steps[-1]
    return {
        "steps": steps,
        "hot_user": HOT_USER,
        "hot_campaign": HOT_CAMPAIGN,
        "ratios": {
            name: ratio(last[name]["chain"]["p50_ms"], first[name]["chain"]["p50_ms"])
            for name in queries
        },
        "ratios_dynamodb": {
            name: ratio(last[name]["dynamodb"]["p50_ms"], first[name]["dynamodb"]["p50_ms"])
            for name in queries
        },
    }


def _items(url: str, body: bytes) -> int:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url, body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return len(orjson.loads(response.read())["data"])


def render(scale: Results) -> list[str]:
    rows = []
    for step in scale["steps"]:
        rows.append(
            [
                step["records"],
                step["load_s"],
                step["user"]["chain"]["p50_ms"],
                step["user"]["dynamodb"]["p50_ms"],
                step["user"]["items"],
                step["fail"]["chain"]["p50_ms"],
                step["fail"]["dynamodb"]["p50_ms"],
                step["fail"]["items"],
            ]
        )
    ratios, direct = scale["ratios"], scale["ratios_dynamodb"]
    return [
        f"Read table grown by batch writes; `/query/user` for `{scale['hot_user']}` (a tenth "
        f"of the records), `/query/fail` for `{scale['hot_campaign']}` (a tenth of the "
        "deliveries, few failed); one request at a time through the chain, and the same "
        "DynamoDB Query from boto3.",
        "",
        *table(
            [
                "records",
                "load s",
                "user p50 ms (chain)",
                "user p50 ms (DynamoDB)",
                "items",
                "fail p50 ms (chain)",
                "fail p50 ms (DynamoDB)",
                "items",
            ],
            rows,
        ),
        "",
        f"Largest / smallest p50 through the chain: user {fmt(ratios['user'], 2)}x, "
        f"fail {fmt(ratios['fail'], 2)}x; DynamoDB alone: user "
        f"{fmt(direct['user'], 2)}x, fail {fmt(direct['fail'], 2)}x.",
    ]


def targets(results: Results) -> list[Target]:
    return [
        Target(
            f"/query/{query} p50 at 100k / at 1k",
            get(results, "scale", "ratios", query),
            1.25,
            "x",
        )
        for query in ("user", "fail")
    ]


def explain(target: Target, results: Results) -> str | None:
    query = target.name.split()[0].removeprefix("/query/")
    direct = results["scale"]["ratios_dynamodb"].get(query)
    return (
        f"DynamoDB alone changed {direct}x over the same sizes; a ratio "
        "through the chain far from DynamoDB's is the machine's noise, not the table."
    )


def plots(results: Results, out: Path, stamp: str) -> list[Path]:
    fig, ax = new_figure()
    steps = results["scale"]["steps"]
    sizes = [s["records"] for s in steps]
    for name, color in (("user", "tab:blue"), ("fail", "tab:orange")):
        ax.plot(
            sizes,
            [s[name]["chain"]["p50_ms"] for s in steps],
            marker="o",
            color=color,
            label=f"/query/{name} through the chain",
        )
        ax.plot(
            sizes,
            [s[name]["dynamodb"]["p50_ms"] for s in steps],
            marker="x",
            linestyle="--",
            color=color,
            label=f"/query/{name}: DynamoDB alone",
        )
    label(
        ax,
        "records in the read table (bench's own, log scale)",
        "p50 latency (ms)",
        "Query latency against table size",
    )
    return [save(fig, out / f"{stamp}-scale.png")]


SECTION = Section(
    key="scale",
    heading="## Scale",
    measure=measure,
    render=render,
    targets=targets,
    explain=explain,
    plots=plots,
)

"""The floor and the naive baseline: the ECS handler beside bare forwarders.

Each forwarder is a bare ASGI app (``bench.floor``) doing the least a tier can do to
forward a query; they and the ECS handler forward ``/query/user`` against the internal
gateway (the real upstream) and against a stub upstream (a canned page: the tier's own
cost). DynamoDB Local's own query time is measured first, as the floor under the chain.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.load import run_load, warm_up
from bench.markdown import cpu_us_per_request, fmt, table
from bench.plots import label, new_figure, save
from bench.procs import Usage
from bench.section import USER_BODY, Bench, Plan, Results, Say, Section, measured
from bench.servers import IMAGE_ENV, ecs_argv, floor_argv, server, stub_upstream
from bench.stats import Target, get, ratio, summarise
from query_service.ports import HOST
from tests.harness import free_port

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

UPSTREAMS = (
    ("internal_upstream", "internal gateway", "against the internal gateway (the real upstream)"),
    ("stub_upstream", "stub", "against a stub upstream (a canned page: the tier's own cost)"),
)
NAMES = {
    "ecs_handler": "ECS handler (FastAPI, pooled aiohttp)",
    "ecs_handler_before": "ECS handler, the version given by --ecs-before",
    "floor_aiohttp": "floor: bare ASGI, pooled aiohttp",
    "floor_httpx": "floor: bare ASGI, pooled httpx",
    "floor_naive": "naive: bare ASGI, new aiohttp session per request",
}


def measure(bench: Bench) -> dict[str, Any]:
    stack, say = bench.stack, bench.say
    dynamo = dynamodb_floor(stack.client, stack.table, bench.plan)
    for path, figures in dynamo.items():
        say(f"floor dynamodb {path}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms")
    ecs = (stack.urls["ecs"], stack.pids["ecs"])
    internal = forwarders(
        ecs, stack.urls["internal"], stack.pids, bench.plan, bench.workdir, say, "internal"
    )
    with stub_upstream(bench.workdir) as (stub_url, stub_pid):
        known = {**stack.pids, "stub": stub_pid}
        stub = forwarders(
            None, stub_url, known, bench.plan, bench.workdir, say, "stub", bench.ecs_before
        )
    return {
        "dynamodb": dynamo,
        "internal_upstream": internal,
        "stub_upstream": stub,
    }


def dynamodb_floor(client: DynamoDBClient, table: str, plan: Plan) -> dict[str, Any]:
    """DynamoDB Local's own answer time for the two queries, from boto3, one at a time."""
    queries: dict[str, dict[str, Any]] = {
        "/query/user": {
            "KeyConditionExpression": "user_id = :u",
            "ExpressionAttributeValues": {":u": {"S": "test_user_001"}},
        },
        "/query/fail": {
            "IndexName": "failures-index",
            "KeyConditionExpression": "failed_tx = :t",
            "ExpressionAttributeValues": {":t": {"S": "tx_002"}},
        },
    }
    out: dict[str, Any] = {}
    for path, query in queries.items():
        times = time_dynamodb(client, table, query, plan.dynamodb_queries)
        out[path] = summarise(times, 0, sum(times) / 1000)
    return out


def time_dynamodb(
    client: DynamoDBClient, table: str, query: Mapping[str, Any], count: int
) -> list[float]:
    kwargs = {"TableName": table, "ScanIndexForward": False, "Limit": 10, **query}
    for _ in range(10):
        client.query(**kwargs)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.query(**kwargs)
        times.append((time.perf_counter() - started) * 1000)
    return times


def forwarders(
    ecs: tuple[str, int] | None,
    upstream: str,
    known: Mapping[str, int],
    plan: Plan,
    workdir: Path,
    say: Say,
    label: str,
    ecs_before: Path | None = None,
) -> dict[str, Any]:
    """The ECS handler beside the floor proxies and the naive one, all against ``upstream``.

    ``ecs`` is a running handler (URL, pid) already pointed at ``upstream``; without one, a
    handler is started for the run as the image runs it (its command, its environment:
    the request log on). ``ecs_before`` is the ``src`` folder of an earlier version of the
    handler, started beside it the same way (``ecs_handler_before``). Every forwarder is
    up at once and measured in turns, ``plan.floor_rounds`` times in a rotating order;
    each keeps its best round, so a burst of other work on the machine hurts no one
    forwarder alone. ``known`` are the other processes of ours (the upstream among them),
    told apart from other work on the machine.
    """
    env = {"INTERNAL_API_URL": upstream, **IMAGE_ENV}
    with contextlib.ExitStack() as servers:
        targets: dict[str, tuple[str, int]] = {}
        handlers = {"ecs_handler": env}
        if ecs_before is not None:
            handlers["ecs_handler_before"] = {**env, "PYTHONPATH": str(ecs_before)}
        for name, handler_env in handlers.items():
            if name == "ecs_handler" and ecs is not None:
                targets[name] = ecs
                continue
            port = free_port()
            health = f"http://{HOST}:{port}/health"
            log = workdir / f"{name}-{label}.log"
            process = servers.enter_context(server(ecs_argv(port), health, handler_env, log))
            targets[name] = (f"http://{HOST}:{port}", process.pid)
        for mode in ("aiohttp", "httpx", "naive"):
            port = free_port()
            process = servers.enter_context(
                server(
                    floor_argv(mode, upstream, port),
                    f"http://{HOST}:{port}/health",
                    env,
                    workdir / f"floor-{mode}.log",
                )
            )
            targets[f"floor_{mode}"] = (f"http://{HOST}:{port}", process.pid)
        for base, _ in targets.values():
            warm_up(base + "/query/user", USER_BODY, requests=200)
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        names = list(targets)
        for turn in range(plan.floor_rounds):
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                base, pid = targets[name]
                others = {k: v for k, v in known.items() if v != pid}
                with Usage({name: pid, **others}) as usage:
                    result = run_load(
                        base + "/query/user",
                        USER_BODY,
                        plan.floor_concurrency,
                        duration=plan.floor_seconds,
                    )
                rounds[name].append(
                    measured(
                        result,
                        concurrency=plan.floor_concurrency,
                        **usage.figures[name],
                        machine=usage.machine,
                    )
                )
    out: dict[str, Any] = {}
    for name, runs in rounds.items():
        best = max(runs, key=lambda r: r["throughput_rps"])
        cpu_us = [cpu_us_per_request(r["cpu_percent"], r["throughput_rps"]) for r in runs]
        out[name] = {
            **best,
            "rounds_rps": [r["throughput_rps"] for r in runs],
            "rounds_cpu_us": cpu_us,
            "median_cpu_us": statistics.median(c for c in cpu_us if c is not None)
            if any(c is not None for c in cpu_us)
            else None,
        }
        say(
            f"floor[{label}] {name}: {best['throughput_rps']} req/s (best of "
            f"{out[name]['rounds_rps']}), p50 {best['p50_ms']} ms, CPU µs/request {cpu_us}"
        )
    rps = {name: run["throughput_rps"] for name, run in out.items()}
    cpu = {name: run["median_cpu_us"] for name, run in out.items()}
    ratios = {
        "ecs_over_floor": ratio(rps["ecs_handler"], rps["floor_aiohttp"]),
        "ecs_cpu_over_floor": ratio(cpu["ecs_handler"], cpu["floor_aiohttp"]),
        "httpx_over_aiohttp": ratio(rps["floor_httpx"], rps["floor_aiohttp"]),
        "pooled_over_naive": ratio(rps["floor_aiohttp"], rps["floor_naive"]),
        "ecs_over_naive": ratio(rps["ecs_handler"], rps["floor_naive"]),
    }
    if "ecs_handler_before" in out:
        ratios["ecs_before_over_floor"] = ratio(rps["ecs_handler_before"], rps["floor_aiohttp"])
        ratios["ecs_before_cpu_over_floor"] = ratio(cpu["ecs_handler_before"], cpu["floor_aiohttp"])
    return {"runs": out, "ratios": ratios}


def render(floor: Results) -> list[str]:
    lines = ["DynamoDB Local's own query time (boto3, one at a time, Limit 10):", ""]
    lines += table(
        ["query", "p50 ms", "p95 ms", "p99 ms"],
        [[p, f["p50_ms"], f["p95_ms"], f["p99_ms"]] for p, f in floor["dynamodb"].items()],
    )
    for key, _, title in UPSTREAMS:
        part = floor[key]
        rows = [
            [
                NAMES[n],
                r["throughput_rps"],
                r["p50_ms"],
                r["p99_ms"],
                r["errors"],
                r["cpu_percent"],
                cpu_us_per_request(r["cpu_percent"], r["throughput_rps"]),
                r["rss_mib"],
                r.get("machine", {}).get("other_cpu_percent"),
                ", ".join(f"{x:,.0f}" for x in r.get("rounds_rps", [])),
                ", ".join(fmt(x) for x in r.get("rounds_cpu_us", [])),
            ]
            for n, r in part["runs"].items()
        ]
        ratios = part["ratios"]
        lines += [
            "",
            f"Forwarding `/query/user` at c={next(iter(part['runs'].values()))['concurrency']}, "
            f"{title}:",
            "",
            *table(
                [
                    "forwarder",
                    "req/s (best round)",
                    "p50 ms",
                    "p99 ms",
                    "errors",
                    "CPU %",
                    "CPU µs/req",
                    "RSS MiB",
                    "other %",
                    "every round, req/s",
                    "every round, CPU µs/req",
                ],
                rows,
            ),
            "",
            f"ECS handler / floor {fmt(ratios['ecs_over_floor'], 2)}x (its CPU µs per request "
            f"over the floor's, median of the rounds: "
            f"{fmt(ratios.get('ecs_cpu_over_floor'), 2)}x), "
            f"httpx / aiohttp {fmt(ratios['httpx_over_aiohttp'], 2)}x, "
            f"pooled / naive {fmt(ratios['pooled_over_naive'], 2)}x, "
            f"ECS handler / naive {fmt(ratios['ecs_over_naive'], 2)}x.",
        ]
        if "ecs_before_over_floor" in ratios:
            lines += [
                "",
                "The version given by `--ecs-before`, beside it in the same rounds: / floor "
                f"{fmt(ratios['ecs_before_over_floor'], 2)}x, CPU µs per request over the "
                f"floor's {fmt(ratios['ecs_before_cpu_over_floor'], 2)}x.",
            ]
    return lines


def targets(results: Results) -> list[Target]:
    found = []
    for upstream, label_ in ((u, name) for u, name, _ in UPSTREAMS):
        ratios = get(results, "floor", upstream, "ratios") or {}
        found += [
            Target(
                f"ECS handler / floor throughput, upstream: {label_}",
                ratios.get("ecs_over_floor"),
                0.7,
                "x",
                higher_is_better=True,
            ),
            Target(
                f"pooled / naive throughput, upstream: {label_}",
                ratios.get("pooled_over_naive"),
                1.5,
                "x",
                higher_is_better=True,
            ),
        ]
    return found


def explain(target: Target, results: Results) -> str | None:
    name = target.name
    if name.startswith("pooled / naive") and "internal" in name:
        runs = results["floor"]["internal_upstream"]["runs"]
        return (
            "the upstream (internal gateway, Query Result Lambda, DynamoDB "
            f"Local) tops out near {runs['floor_aiohttp']['throughput_rps']:,.0f} req/s, "
            "below what either forwarder can send, so a connection per request costs the "
            "naive forwarder little that shows. Against the stub upstream the same two "
            "forwarders differ by "
            f"{results['floor']['stub_upstream']['ratios']['pooled_over_naive']}x."
        )
    if name.startswith("ECS handler / floor"):
        return (
            "the floor only moves bytes; the ECS handler also validates the query, checks "
            "each of the ten records the upstream returns and writes its request log line "
            "(as the image runs it); see the profile section for where its time goes, and "
            "the CPU µs per request column, which waiting for a core does not inflate."
        )
    if name.startswith("pooled / naive"):
        return "see the forwarders' CPU and rounds in the floor table."
    return None


def _forwarder(doc: Results, upstream: str, name: str) -> Mapping[str, Any]:
    return get(doc, "floor", upstream, "runs", name) or {}


def compare(results: Results, before: Results) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for upstream, _, _ in UPSTREAMS:
        label_ = upstream.split("_")[0]
        for name in ("ecs_handler", "floor_aiohttp"):
            was, now = _forwarder(before, upstream, name), _forwarder(results, upstream, name)
            rows.append(
                [f"{name} req/s ({label_})", was.get("throughput_rps"), now.get("throughput_rps")]
            )
        was = _forwarder(before, upstream, "ecs_handler")
        now = _forwarder(results, upstream, "ecs_handler")
        rows.append(
            [
                f"ECS handler CPU µs per request ({label_})",
                cpu_us_per_request(was.get("cpu_percent"), was.get("throughput_rps")),
                cpu_us_per_request(now.get("cpu_percent"), now.get("throughput_rps")),
            ]
        )
        rows.append(
            [
                f"ECS handler / floor ({label_})",
                fmt(get(before, "floor", upstream, "ratios", "ecs_over_floor"), 2),
                fmt(get(results, "floor", upstream, "ratios", "ecs_over_floor"), 2),
            ]
        )
    return rows


def plots(results: Results, out: Path, stamp: str) -> list[Path]:
    """The chain's throughput by concurrency (if the run measured it) beside each forwarder's."""
    fig, (ax, bars) = new_figure(2, (11, 4.5))
    chain = get(results, "chain", "runs") or []
    for path in ("/query/user", "/query/fail"):
        runs = [r for r in chain if r["path"] == path]
        ax.plot(
            [r["concurrency"] for r in runs],
            [r["throughput_rps"] for r in runs],
            marker="o",
            label=f"chain {path}",
        )
    label(ax, "concurrency (requests in flight)", "requests per second", "The chain")
    names = list(results["floor"]["internal_upstream"]["runs"])
    width = 0.38
    for offset, upstream in ((-width / 2, "internal_upstream"), (width / 2, "stub_upstream")):
        runs = results["floor"][upstream]["runs"]
        bars.bar(
            [i + offset for i in range(len(names))],
            [runs[n]["throughput_rps"] for n in names],
            width,
            label=f"upstream: {upstream.split('_')[0]}",
        )
    bars.set_xticks(range(len(names)), [n.replace("_", "\n", 1) for n in names], fontsize=8)
    bars.set_ylabel("requests per second")
    concurrency = next(iter(results["floor"]["stub_upstream"]["runs"].values()))["concurrency"]
    bars.set_title(f"Forwarders at c={concurrency}")
    bars.grid(True, axis="y", alpha=0.3)
    bars.legend(fontsize=8)
    return [save(fig, out / f"{stamp}-throughput.png")]


SECTION = Section(
    key="floor",
    heading="## Floor and naive baseline",
    measure=measure,
    render=render,
    targets=targets,
    explain=explain,
    compare=compare,
    plots=plots,
)

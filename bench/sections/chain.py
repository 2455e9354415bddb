"""The whole stack through the public gateway, as a client sees it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from bench.load import run_load, warm_up
from bench.markdown import cpu_us_per_request, table
from bench.plots import new_figure, save
from bench.procs import Usage, cpu_seconds, read_rss_mib
from bench.section import BODIES, Bench, Results, Section, Stack, measured
from bench.stats import Target, cdf_points, get
from query_service.domain.queries import DeliveryQuery, QueryKind, parse_query_body
from query_service.storage.repository import ReadRepository

TITLE = (
    "Chain: client → public gateway → Query Lambda → ECS handler → internal gateway "
    "→ Query Result Lambda → DynamoDB Local"
)


WARM_UP_THREADS = 8
WARM_UP_BATCHES = 4


def _chain_reads(stack: Stack) -> list[Callable[[], object]]:
    """The DynamoDB reads the chain's queries make (BODIES), as the Query Result Lambda's
    repository makes them."""
    repository = ReadRepository(stack.client, stack.table)
    reads: list[Callable[[], object]] = []
    for path, body in BODIES.items():
        query = parse_query_body(QueryKind(path.rsplit("/", 1)[-1]), body)
        if isinstance(query, DeliveryQuery):
            reads.append(partial(repository.delivery, query))
        else:
            reads.append(partial(repository.page, query))  # type: ignore[arg-type]
    return reads


def warm_dynamodb(stack: Stack, queries: int) -> dict[str, Any]:
    """The chain's own reads, ``queries`` of them, straight to DynamoDB Local before the
    chain is measured; its CPU per query in each of WARM_UP_BATCHES batches.

    DynamoDB Local is a JVM: it compiles its read path over its first thousands of queries,
    and meanwhile spends about twice the CPU per query it settles at (3.8 → 1.6 ms over
    the first 10,000 on this machine). It stands in for a managed service whose CPU is not
    ours; measured from a fresh stack, the c=10 runs (its queries ~1,000 to ~4,000) fell
    in the middle of that compiling, which took its CPU from the two cores every tier shares.
    """
    reads = _chain_reads(stack)
    dynamodb = psutil.Process(stack.pids["dynamodb"])
    per_batch = max(1, queries // WARM_UP_BATCHES)
    cpu_ms: list[float] = []
    with ThreadPoolExecutor(WARM_UP_THREADS, thread_name_prefix="warm-up") as pool:
        for _ in range(WARM_UP_BATCHES):
            started = cpu_seconds(dynamodb)
            for _ in pool.map(lambda i: reads[i % len(reads)](), range(per_batch)):
                pass
            cpu_ms.append(round((cpu_seconds(dynamodb) - started) * 1000 / per_batch, 3))
    return {"queries": per_batch * WARM_UP_BATCHES, "cpu_ms_per_query": cpu_ms}


def measure(bench: Bench) -> dict[str, Any]:
    public, pids = bench.stack.urls["public"], bench.stack.pids
    runs: list[dict[str, Any]] = []
    cdfs: dict[str, list[tuple[float, float]]] = {}
    warmed = warm_dynamodb(bench.stack, bench.plan.chain_dynamodb_warm_up)
    bench.say(
        f"chain: DynamoDB Local warmed up with {warmed['queries']} of the chain's reads, "
        f"CPU ms per query by batch {warmed['cpu_ms_per_query']}"
    )
    for path, body in BODIES.items():
        warm_up(public + path, body)
    for concurrency, requests in bench.plan.chain:
        for path, body in BODIES.items():
            with Usage(pids) as usage:
                result = run_load(public + path, body, concurrency, requests=requests)
            run = measured(
                result,
                path=path,
                concurrency=concurrency,
                tiers=usage.figures,
                machine=usage.machine,
            )
            runs.append(run)
            cdfs[f"{path} c={concurrency}"] = cdf_points(result.latencies_ms)
            bench.say(
                f"chain {path} c={concurrency}: {run['throughput_rps']} req/s, "
                f"p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms, {run['errors']} errors"
            )
    served = sum(r["requests"] for r in runs) + 100
    return {
        "runs": runs,
        "cdf": cdfs,
        "dynamodb_warm_up": warmed,
        "ecs_requests_served": served,
        "ecs_rss_mib_after": read_rss_mib(pids["ecs"]),
    }


def chain_run(results: Results, path: str, c: int) -> Mapping[str, Any]:
    """The chain run of ``path`` at concurrency ``c`` ({} if there was none)."""
    for run in get(results, "chain", "runs") or []:
        if run["path"] == path and run["concurrency"] == c:
            return run  # type: ignore[no-any-return]
    return {}


def render(chain: Results) -> list[str]:
    rows = []
    for run in chain["runs"]:
        tiers = run["tiers"]
        cpu = ", ".join(f"{n} {t['cpu_percent']:.0f}" for n, t in tiers.items())
        machine = run.get("machine", {})
        rows.append(
            [
                run["path"],
                run["concurrency"],
                run["requests"],
                run["errors"],
                run["throughput_rps"],
                run["p50_ms"],
                run["p95_ms"],
                run["p99_ms"],
                cpu,
                machine.get("load_generator_cpu_percent"),
                machine.get("other_cpu_percent"),
            ]
        )
    header = ["path", "c", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms"]
    lines = [
        "CPU is in % of one core (the machine has two: 200 %). *Load gen* is this benchmark's "
        "own client; *other* is every other process on the machine meanwhile (other people's "
        "work shares these cores: a slow run with a high *other* figure was crowded out).",
        "",
        *table([*header, "CPU % by tier", "load gen %", "other %"], rows),
    ]
    warmed = chain.get("dynamodb_warm_up")
    if warmed:
        lines[1:1] = [
            "",
            f"Before the runs DynamoDB Local served {warmed['queries']:,} of the chain's own "
            "reads directly (its JIT compiles its read path over the first thousands); its "
            "CPU ms per query, batch by batch: "
            + " → ".join(str(ms) for ms in warmed["cpu_ms_per_query"])
            + ".",
        ]
    last = chain["runs"][-1]["tiers"]
    rss = ", ".join(f"{name} {t['rss_mib']:.0f}" for name, t in last.items())
    lines += [
        "",
        f"RSS (MiB) after the last run: {rss}. The ECS handler had served "
        f"{chain['ecs_requests_served']:,} requests.",
    ]
    return lines


def targets(results: Results) -> list[Target]:
    c10 = [chain_run(results, p, 10) for p in BODIES]
    c50 = [chain_run(results, p, 50) for p in BODIES]
    p99s: list[float] = [r["p99_ms"] for r in c10 if r.get("p99_ms") is not None]
    return [
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
        Target(
            "chain /query/delivery p50 over /query/user p50 at c=10",
            _p50_ratio(results, "/query/delivery", "/query/user", 10),
            1.0,
            "x",
        ),
        Target(
            "ECS handler RSS after the chain runs",
            get(results, "chain", "ecs_rss_mib_after"),
            150,
            "MiB",
        ),
    ]


def _p50_ratio(results: Results, path: str, other: str, c: int) -> float | None:
    """``path``'s median latency over ``other``'s, at concurrency ``c`` (None if unmeasured)."""
    a, b = chain_run(results, path, c).get("p50_ms"), chain_run(results, other, c).get("p50_ms")
    return None if a is None or not b else round(a / b, 2)


def explain(target: Target, results: Results) -> str | None:
    if not target.name.startswith("chain"):
        return None
    c = 10 if "c=10" in target.name else 50
    runs = [chain_run(results, p, c) for p in BODIES]
    other = [r.get("machine", {}).get("other_cpu_percent") for r in runs]
    tiers = runs[0].get("tiers", {})
    busiest = max(tiers, key=lambda t: tiers[t]["cpu_percent"]) if tiers else "?"
    return (
        f"other work on the machine took {other} % of a core during the "
        f"two c={c} runs (of 200 %); the busiest tier was {busiest}. Every tier, "
        "DynamoDB Local and the load generator share two cores, so the tail is the "
        "scheduler's: a quiet machine, or fewer tiers per core, is what moves it."
    )


def _tier_cost(doc: Results, path: str, tier: str) -> float | None:
    run = chain_run(doc, path, 50)
    if not run or tier not in run["tiers"]:
        return None
    return cpu_us_per_request(run["tiers"][tier]["cpu_percent"], run["throughput_rps"])


def compare(results: Results, before: Results) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for path in BODIES:
        for c, key in ((10, "p99_ms"), (50, "throughput_rps"), (50, "p50_ms")):
            rows.append(
                [
                    f"chain {path} c={c} {key}",
                    chain_run(before, path, c).get(key),
                    chain_run(results, path, c).get(key),
                ]
            )
        for tier in ("public", "ecs", "internal"):
            rows.append(
                [
                    f"chain {path} c=50: {tier} tier CPU µs per request",
                    _tier_cost(before, path, tier),
                    _tier_cost(results, path, tier),
                ]
            )
    rows.append(
        [
            "ECS handler RSS MiB after the chain",
            get(before, "chain", "ecs_rss_mib_after"),
            get(results, "chain", "ecs_rss_mib_after"),
        ]
    )
    return rows


def plots(results: Results, out: Path, stamp: str) -> list[Path]:
    fig, ax = new_figure()
    for label, points in results["chain"]["cdf"].items():
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("Chain latency CDF (through the public gateway)")
    ax.axvline(100, color="grey", linestyle=":", label="100 ms target")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return [save(fig, out / f"{stamp}-latency-cdf.png")]


SECTION = Section(
    key="chain",
    heading=f"## {TITLE}",
    measure=measure,
    render=render,
    targets=targets,
    explain=explain,
    compare=compare,
    plots=plots,
)

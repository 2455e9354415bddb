"""The benchmark's sections, each returning a JSON-ready dict (see ``bench.run``)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bench.load import LoadResult, run_load, warm_up
from bench.procs import Usage, read_rss_mib
from bench.stats import cdf_points, ratio, summarise
from query_service.local.stack import HOST, die_with_parent, free_port, stop, wait_http

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REPO = Path(__file__).resolve().parents[1]
USER_BODY = b'{"user_id":"test_user_001","limit":10}'  # the brief's example call
FAIL_BODY = b'{"transaction_id":"tx_002"}'
BODIES = {"/query/user": USER_BODY, "/query/fail": FAIL_BODY}
LAMBDA_MODULES = ("query_entry", "query_result", "stream_processor")
Say = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """How much load each section sends; ``quick`` is a smoke run of the harness."""

    chain: tuple[tuple[int, int], ...] = ((1, 300), (10, 1000), (50, 10_000))
    floor_seconds: float = 3.0
    floor_rounds: int = 3
    floor_concurrency: int = 50
    scale_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    scale_requests: int = 400
    dynamodb_queries: int = 300
    import_repeats: int = 3
    profile_seconds: float = 8.0
    profile_lambda_requests: int = 1000
    wrk_seconds: int = 10

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            chain=((1, 50), (10, 200), (50, 500)),
            floor_seconds=1.0,
            floor_rounds=2,
            scale_sizes=(1_000, 3_000),
            scale_requests=50,
            dynamodb_queries=50,
            import_repeats=1,
            profile_seconds=2.0,
            profile_lambda_requests=100,
            wrk_seconds=2,
        )


def _measured(result: LoadResult, **extra: Any) -> dict[str, Any]:
    figures = summarise(result.latencies_ms, result.errors, result.elapsed_s)
    return {**extra, **figures, "statuses": dict(result.statuses)}


# -- processes ---------------------------------------------------------------------------


@contextlib.contextmanager
def server(
    argv: list[str], health: str, env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process of ours, stopped (SIGTERM, then SIGKILL) however the block ends."""
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own argv
            argv,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    try:
        wait_http(health, process, " ".join(argv[2:4]))
        yield process
    finally:
        stop(process, 15)


def ecs_argv(port: int) -> list[str]:
    """The ECS handler as the stack and the image run it."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "query_service.ecs.app:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def floor_argv(mode: str, upstream: str, port: int) -> list[str]:
    return [sys.executable, "-m", "bench.floor", mode, "--upstream", upstream, "--port", str(port)]


# -- chain -------------------------------------------------------------------------------


def chain(public: str, pids: Mapping[str, int], plan: Plan, say: Say) -> dict[str, Any]:
    """The whole stack through the public gateway, as a client sees it."""
    runs: list[dict[str, Any]] = []
    cdfs: dict[str, list[tuple[float, float]]] = {}
    for path, body in BODIES.items():
        warm_up(public + path, body)
    for concurrency, requests in plan.chain:
        for path, body in BODIES.items():
            with Usage(pids) as usage:
                result = run_load(public + path, body, concurrency, requests=requests)
            run = _measured(
                result,
                path=path,
                concurrency=concurrency,
                tiers=usage.figures,
                machine=usage.machine,
            )
            runs.append(run)
            cdfs[f"{path} c={concurrency}"] = cdf_points(result.latencies_ms)
            say(
                f"chain {path} c={concurrency}: {run['throughput_rps']} req/s, "
                f"p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms, {run['errors']} errors"
            )
    served = sum(r["requests"] for r in runs) + 100
    return {
        "runs": runs,
        "cdf": cdfs,
        "ecs_requests_served": served,
        "ecs_rss_mib_after": read_rss_mib(pids["ecs"]),
    }


# -- the brief's tools -------------------------------------------------------------------


def brief_tools(public: str, plan: Plan, workdir: Path, say: Say) -> dict[str, Any]:
    """The brief's ``ab -n 1000 -c 10`` and ``wrk -t2 -c10`` runs, where they are installed."""
    url = public + "/query/user"
    out: dict[str, Any] = {}
    ab = shutil.which("ab")
    if ab is None:
        out["ab"] = {"skipped": "ab is not installed (Debian: apache2-utils)"}
    else:
        body = workdir / "body.json"
        body.write_bytes(USER_BODY)
        argv = [ab, "-q", "-n", "1000", "-c", "10", "-p", str(body), "-T", "application/json", url]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)  # noqa: S603
        shown = f"ab -n 1000 -c 10 -p body.json -T application/json {url}"
        out["ab"] = {"command": shown, **parse_ab(done.stdout)}
        say(f"ab: {out['ab']}")
    wrk = shutil.which("wrk")
    if wrk is None:
        out["wrk"] = {"skipped": "wrk is not installed (Debian: wrk)"}
    else:
        script = REPO / "bench" / "query-test.lua"
        seconds = f"{plan.wrk_seconds}s"
        argv = [wrk, "-t2", "-c10", f"-d{seconds}", "-s", str(script), url]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)  # noqa: S603
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
        try:
            figures = orjson.loads(last)
        except orjson.JSONDecodeError:
            figures = {"error": done.stdout[-300:] + done.stderr[-300:]}
        shown = f"wrk -t2 -c10 -d{seconds} -s bench/query-test.lua {url}"
        out["wrk"] = {"command": shown, **figures}
        say(f"wrk: {out['wrk']}")
    return out


def parse_ab(report: str) -> dict[str, Any]:
    """The figures of an ``ab`` report: throughput, failures, non-2xx, p50/p99 (ms)."""
    figures: dict[str, Any] = {}
    patterns = {
        "requests": r"Complete requests:\s+(\d+)",
        "failed": r"Failed requests:\s+(\d+)",
        "non_2xx": r"Non-2xx responses:\s+(\d+)",
        "throughput_rps": r"Requests per second:\s+([\d.]+)",
        "p50_ms": r"^\s+50%\s+(\d+)",
        "p99_ms": r"^\s+99%\s+(\d+)",
    }
    for key, pattern in patterns.items():
        found = re.search(pattern, report, re.MULTILINE)
        if found:
            figures[key] = float(found.group(1)) if "." in found.group(1) else int(found.group(1))
    figures.setdefault("non_2xx", 0 if "requests" in figures else None)
    return figures


# -- floor -------------------------------------------------------------------------------


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
) -> dict[str, Any]:
    """The ECS handler beside the floor proxies and the naive one, all against ``upstream``.

    ``ecs`` is a running handler (URL, pid) already pointed at ``upstream``; without one, a
    handler is started for the run. Every forwarder is up at once and measured in turns,
    ``plan.floor_rounds`` times in a rotating order; each keeps its best round, so a burst
    of other work on the machine hurts no one forwarder alone. ``known`` are the other
    processes of ours (the upstream among them), told apart from other work on the machine.
    """
    env = {"INTERNAL_API_URL": upstream, "LOG_LEVEL": "WARNING"}
    with contextlib.ExitStack() as servers:
        targets: dict[str, tuple[str, int]] = {}
        if ecs is not None:
            targets["ecs_handler"] = ecs
        else:
            port = free_port()
            process = servers.enter_context(
                server(ecs_argv(port), f"http://{HOST}:{port}/health", env, workdir / "ecs.log")
            )
            targets["ecs_handler"] = (f"http://{HOST}:{port}", process.pid)
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
                    _measured(
                        result,
                        concurrency=plan.floor_concurrency,
                        **usage.figures[name],
                        machine=usage.machine,
                    )
                )
    out: dict[str, Any] = {}
    for name, runs in rounds.items():
        best = max(runs, key=lambda r: r["throughput_rps"])
        out[name] = {**best, "rounds_rps": [r["throughput_rps"] for r in runs]}
        say(
            f"floor[{label}] {name}: {best['throughput_rps']} req/s (best of "
            f"{out[name]['rounds_rps']}), p50 {best['p50_ms']} ms, cpu {best['cpu_percent']} %"
        )
    rps = {name: run["throughput_rps"] for name, run in out.items()}
    return {
        "runs": out,
        "ratios": {
            "ecs_over_floor": ratio(rps["ecs_handler"], rps["floor_aiohttp"]),
            "httpx_over_aiohttp": ratio(rps["floor_httpx"], rps["floor_aiohttp"]),
            "pooled_over_naive": ratio(rps["floor_aiohttp"], rps["floor_naive"]),
            "ecs_over_naive": ratio(rps["ecs_handler"], rps["floor_naive"]),
        },
    }


def floor(
    stack_urls: Mapping[str, str],
    pids: Mapping[str, int],
    client: DynamoDBClient,
    table: str,
    plan: Plan,
    workdir: Path,
    say: Say,
) -> dict[str, Any]:
    dynamo = dynamodb_floor(client, table, plan)
    for path, figures in dynamo.items():
        say(f"floor dynamodb {path}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms")
    ecs = (stack_urls["ecs"], pids["ecs"])
    internal = forwarders(ecs, stack_urls["internal"], pids, plan, workdir, say, "internal")
    stub_port = free_port()
    stub_url = f"http://{HOST}:{stub_port}"
    with server(
        floor_argv("stub", "", stub_port), stub_url + "/health", {}, workdir / "stub.log"
    ) as stub_process:
        known = {**pids, "stub": stub_process.pid}
        stub = forwarders(None, stub_url, known, plan, workdir, say, "stub")
    return {
        "dynamodb": dynamo,
        "internal_upstream": internal,
        "stub_upstream": stub,
    }


# -- profile -----------------------------------------------------------------------------


def profile(plan: Plan, workdir: Path, dynamodb: str, say: Say) -> dict[str, Any]:
    """pyinstrument on the two tiers that do the work of a query.

    The ECS handler forwards to the stub upstream under load (its own cost, nothing
    upstream's); the Query Result Lambda's handler queries DynamoDB Local one call after
    the other.
    """
    stub_port, port = free_port(), free_port()
    stub_url = f"http://{HOST}:{stub_port}"
    ecs_report = workdir / "profile-ecs.txt"
    argv = [sys.executable, "-m", "bench.profile_tier", "ecs", "--port", str(port)]
    env = {"INTERNAL_API_URL": stub_url, "LOG_LEVEL": "WARNING"}
    with (
        server(floor_argv("stub", "", stub_port), stub_url + "/health", {}, workdir / "stub.log"),
        server(
            [*argv, "--output", str(ecs_report)],
            f"http://{HOST}:{port}/health",
            env,
            workdir / "profile.log",
        ),
    ):
        url = f"http://{HOST}:{port}/query/user"
        warm_up(url, USER_BODY, requests=200)
        result = run_load(url, USER_BODY, 10, duration=plan.profile_seconds)
    say(f"profile: ECS handler, {len(result.latencies_ms)} requests, report {ecs_report.name}")
    lambda_report = workdir / "profile-query-result.txt"
    lambda_env = {
        **os.environ,
        "DYNAMODB_ENDPOINT_URL": dynamodb,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(  # noqa: S603 - our own argv
        [
            sys.executable,
            "-m",
            "bench.profile_tier",
            "query_result",
            "--requests",
            str(plan.profile_lambda_requests),
            "--output",
            str(lambda_report),
        ],
        env=lambda_env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    say(f"profile: Query Result Lambda, report {lambda_report.name}")
    return {
        "ecs": {
            "requests": len(result.latencies_ms),
            "report": ecs_report.name,
            "top": top_frames(_read(ecs_report)),
        },
        "query_result": {
            "requests": plan.profile_lambda_requests,
            "report": lambda_report.name,
            "top": top_frames(_read(lambda_report)),
        },
    }


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def top_frames(report: str, count: int = 12) -> list[str]:
    """The heaviest lines of a pyinstrument text report (kept in the summary)."""
    lines = [line.rstrip() for line in report.splitlines() if re.match(r"\d+\.\d+ ", line)]
    return lines[:count]


# -- scale -------------------------------------------------------------------------------

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


def load_read_table(client: DynamoDBClient, table: str, items: list[dict[str, Any]]) -> None:
    """Batch writes straight into the read table, four writers at a time."""
    from query_service.local.commands import batch_put

    chunks = [items[i : i + 500] for i in range(0, len(items), 500)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda chunk: batch_put(client, table, chunk), chunks))


def scale(public: str, client: DynamoDBClient, table: str, plan: Plan, say: Say) -> dict[str, Any]:
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
        load_read_table(client, table, list(scale_records(loaded, size, now_ms)))
        load_s = time.perf_counter() - started
        loaded = size
        step: dict[str, Any] = {"records": size, "load_s": round(load_s, 1)}
        for name, (url, body, query) in queries.items():
            warm_up(url, body, concurrency=1, requests=50)
            result = run_load(url, body, 1, requests=plan.scale_requests)
            times = time_dynamodb(client, table, query, plan.scale_requests)
            step[name] = {
                "chain": _measured(result, concurrency=1),
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


# -- cold start --------------------------------------------------------------------------

_IMPORT_PROBE = (
    "import time; t = time.perf_counter(); import query_service.lambdas.{m}; "
    "print((time.perf_counter() - t) * 1000)"
)


def cold_start(plan: Plan, workdir: Path, say: Say, package: bool = True) -> dict[str, Any]:
    """Import time of each Lambda handler module in a fresh interpreter; each zip's size."""
    import_ms: dict[str, float] = {}
    heaviest: dict[str, list[dict[str, Any]]] = {}
    with Usage({}) as usage:
        for module in LAMBDA_MODULES:
            import_ms[module], heaviest[module] = time_import(module, plan.import_repeats)
            say(f"cold start {module}: import {import_ms[module]} ms")
    zips: dict[str, Any] = {}
    if package:
        zips = package_sizes(workdir / "dist", say)
    return {
        "import_ms": import_ms,
        "heaviest_imports": heaviest,
        "machine": usage.machine,
        "zips": zips,
    }


def time_import(module: str, repeats: int) -> tuple[float, list[dict[str, Any]]]:
    """The median import time (ms) of ``module`` over fresh interpreters, and its heaviest
    imports as ``-X importtime`` lists them."""
    env = {**os.environ, "AWS_DEFAULT_REGION": "ap-southeast-1"}
    runs = []
    for _ in range(repeats):
        done = subprocess.run(  # noqa: S603 - our own argv
            [sys.executable, "-c", _IMPORT_PROBE.format(m=module)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        runs.append(float(done.stdout.strip()))
    traced = subprocess.run(  # noqa: S603 - our own argv
        [sys.executable, "-X", "importtime", "-c", f"import query_service.lambdas.{module}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    rows = heaviest_imports(traced.stderr)
    own = f"query_service.lambdas.{module}"
    return round(statistics.median(runs), 1), [r for r in rows if r["module"] != own]


def heaviest_imports(importtime: str, count: int = 8) -> list[dict[str, Any]]:
    """Top-level-ish packages by cumulative import time, from ``-X importtime`` output."""
    rows: list[tuple[float, str]] = []
    for line in importtime.splitlines():
        found = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)", line)
        if found and len(found.group(3)) <= 3:  # the imported module and its direct imports
            rows.append((int(found.group(2)) / 1000, found.group(4)))
    rows.sort(reverse=True)
    return [{"module": module, "cumulative_ms": ms} for ms, module in rows[:count]]


def package_sizes(out: Path, say: Say) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - our own argv
        [sys.executable, str(REPO / "tools" / "package_lambdas.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if done.returncode != 0:
        say(f"make package failed: {done.stderr.strip()[-300:]}")
        return {"error": done.stderr.strip()[-300:]}
    sizes = {
        path.stem: {"bytes": path.stat().st_size, "mib": round(path.stat().st_size / 2**20, 2)}
        for path in sorted(out.glob("*.zip"))
    }
    say("zips: " + ", ".join(f"{k} {v['mib']} MiB" for k, v in sizes.items()))
    return sizes

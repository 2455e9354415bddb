"""``make bench``: ``python -m bench.run [--quick] [--out DIR] [--before JSON]``.

Starts the local stack on free ports (DynamoDB Local, both gateways, the ECS handler, the
stream tier), runs every section against it in one go, so that ratios compare figures
taken side by side, stops everything it started, and writes
``<out>/<timestamp>.json``, ``<out>/<timestamp>.md`` and ``<out>/<timestamp>-*.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.procs import children, cmdline, tier_of
from bench.report import render_markdown, render_plots
from bench.section import REPO, Bench, Plan, Stack
from bench.sections import SECTIONS, evaluate_targets
from query_service.ports import Ports
from tests.harness import launch

DEFAULT_OUT = REPO / "bench" / "results"
DEFAULT_BEFORE = REPO / "bench" / "before.json"
PUBLISHED_SUMMARY = REPO / "bench" / "RESULTS.md"
PUBLISHED_PLOTS = REPO / "bench" / "plots"


def _say(line: str) -> None:
    print(f"bench | {line}", flush=True)


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


@contextlib.contextmanager
def local_stack(work: Path) -> Iterator[tuple[Ports, dict[str, int]]]:
    """``query-service local up`` on free ports, as a user runs it; yields its ports and
    each tier's pid.

    Its own process, so that relaying the tiers' log lines costs the load generator
    nothing; stopped with SIGTERM (every tier with it) however the block ends.
    """
    _say("starting the local stack")
    ports, stack = launch(work)
    process = stack.process
    _say(f"the local stack is up on ports {dict(ports.items())}")
    try:
        pids = {}
        for pid in children(process.pid):
            tier = tier_of(cmdline(pid))
            if tier is not None:
                pids[tier] = pid
        missing = {"dynamodb", "stream", "internal", "ecs", "public"} - pids.keys()
        if missing:
            raise RuntimeError(f"tiers not found among the stack's processes: {missing}")
        # the runner relays every tier's log lines
        yield ports, {**pids, "runner": process.pid}
    finally:
        stack.stop(30)


def run(
    plan: Plan,
    out: Path,
    package: bool,
    ecs_before: Path | None = None,
    only: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Every section (or those named in ``only``) against one local stack."""
    from query_service.config import Settings
    from query_service.storage.dynamo import dynamodb_client

    started = time.monotonic()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    work = out / f"{stamp}-work"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "timestamp": stamp,
        "machine": machine(),
        "plan": {k: v for k, v in plan.__dict__.items()},
    }
    bench = Bench(plan, work, _say, package=package, ecs_before=ecs_before)
    sections = [s for s in SECTIONS if not only or s.key in only]
    # What needs no stack first (building the zips is CPU work that must not overlap a
    # load run), then the stack's sections in the summary's order.
    for section in sections:
        if not section.needs_stack:
            results[section.key] = section.measure(bench)
    with local_stack(work) as (ports, pids):
        urls = {name: ports.url(name) for name, _ in ports.items()}
        results["engine"] = "moto" if "moto" in cmdline(pids["dynamodb"]) else "dynamodb-local"
        settings = Settings(dynamodb_endpoint_url=urls["dynamodb"])
        client = dynamodb_client(settings, timeout=30.0)
        stack = Stack(urls, pids, client, settings.notification_table_name)
        on_stack = dataclasses.replace(bench, stack_=stack)
        for section in sections:
            if section.needs_stack:
                results[section.key] = section.measure(on_stack)
    results["wall_s"] = round(time.monotonic() - started, 1)
    results["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = [t.as_dict() for t in evaluate_targets(results)]
    return results


def write_reports(
    results: dict[str, Any], out: Path, before: dict[str, Any] | None, publish: bool
) -> None:
    """The summary and plots of ``results`` into ``out`` (and bench/ with ``publish``)."""
    stamp = results["timestamp"]
    plots = render_plots(results, out, stamp)
    md_path = out / f"{stamp}.md"
    md_path.write_text(render_markdown(results, before, [p.name for p in plots]))
    _say(f"summary {md_path}, {len(plots)} plots")
    if publish:
        PUBLISHED_PLOTS.mkdir(exist_ok=True)
        published = []
        for plot in plots:
            target = PUBLISHED_PLOTS / plot.name.removeprefix(f"{stamp}-")
            shutil.copyfile(plot, target)
            published.append(f"{PUBLISHED_PLOTS.name}/{target.name}")
        PUBLISHED_SUMMARY.write_text(render_markdown(results, before, published))
        _say(f"published: {PUBLISHED_SUMMARY} and {PUBLISHED_PLOTS}/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: little load")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--before",
        type=Path,
        default=DEFAULT_BEFORE,
        help="a result JSON to compare with (default bench/before.json, if present)",
    )
    parser.add_argument("--no-package", action="store_true", help="skip building the zips")
    parser.add_argument(
        "--sections",
        default="",
        metavar="KEYS",
        help="only these sections, comma-separated ("
        + ", ".join(s.key for s in SECTIONS)
        + "); the others' targets then count as missed",
    )
    parser.add_argument(
        "--ecs-before",
        type=Path,
        metavar="SRC",
        help="the src folder of an earlier version (e.g. from git archive): its ECS handler "
        "is measured beside today's against the stub upstream",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also copy the summary to bench/RESULTS.md and its plots to bench/plots/",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="measure nothing: write the summary and plots of an earlier run's JSON",
    )
    args = parser.parse_args(argv)
    before = orjson.loads(args.before.read_bytes()) if args.before.is_file() else None
    if args.render is not None:
        results = orjson.loads(args.render.read_bytes())
        write_reports(results, args.render.parent, before, args.publish)
        return 0
    plan = Plan.quick() if args.quick else Plan()
    args.out.mkdir(parents=True, exist_ok=True)
    ecs_before = args.ecs_before.resolve() if args.ecs_before else None
    only = frozenset(k.strip() for k in args.sections.split(",") if k.strip())
    unknown = only - {s.key for s in SECTIONS}
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    results = run(plan, args.out, not args.no_package, ecs_before, only)
    json_path = args.out / f"{results['timestamp']}.json"
    json_path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    _say(f"done in {results['wall_s']} s: {json_path}")
    write_reports(results, args.out, before, args.publish)
    missed = [t["name"] for t in results["targets"] if t["met"] is not True]
    _say("every target met" if not missed else "targets missed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())

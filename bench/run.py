"""``make bench``: ``python -m bench.run [--quick] [--out DIR] [--before JSON]``.

Starts the local stack on free ports (DynamoDB Local, both gateways, the ECS handler, the
stream tier), runs every section against it in one go, so that ratios compare figures
taken side by side, stops everything it started, and writes
``<out>/<timestamp>.json``, ``<out>/<timestamp>.md`` and ``<out>/<timestamp>-*.png``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench import sections
from bench.report import render_markdown, render_plots
from bench.stats import evaluate_targets

DEFAULT_OUT = sections.REPO / "bench" / "results"
DEFAULT_BEFORE = sections.REPO / "bench" / "before.json"


def _say(line: str) -> None:
    print(f"bench | {line}", flush=True)


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def run(plan: sections.Plan, out: Path, package: bool) -> dict[str, Any]:
    from query_service.config import Settings
    from query_service.local.stack import LocalStack, Ports
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
    # The Lambda zips first: building them is CPU work that must not overlap a load run.
    results["cold_start"] = sections.cold_start(plan, work, _say, package=package)

    ports = Ports(*(sections.free_port() for _ in range(4)))
    state = Path(tempfile.mkdtemp(prefix="bench-state-"))
    with (work / "stack.out").open("w") as stack_out:
        stack = LocalStack(ports, log_dir=work / "logs", state_dir=state, out=stack_out)
        try:
            _say(f"starting the local stack on ports {ports}")
            stack.up()
            results["engine"] = stack.engine_used
            pids = {child.name: child.process.pid for child in stack.children}
            urls = {
                name: f"http://{sections.HOST}:{port}"
                for name, port in (
                    ("public", ports.public),
                    ("ecs", ports.ecs),
                    ("internal", ports.internal),
                    ("dynamodb", ports.dynamodb),
                )
            }
            settings = Settings(dynamodb_endpoint_url=urls["dynamodb"])
            client = dynamodb_client(settings, timeout=30.0)
            table = settings.notification_table_name
            results["chain"] = sections.chain(urls["public"], pids, plan, _say)
            results["floor"] = sections.floor(urls, pids, client, table, plan, work, _say)
            results["profile"] = sections.profile(plan, work, urls["dynamodb"], _say)
            results["scale"] = sections.scale(urls["public"], client, table, plan, _say)
        finally:
            stack.down()
            shutil.rmtree(state, ignore_errors=True)
    results["wall_s"] = round(time.monotonic() - started, 1)
    results["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = [t.as_dict() for t in evaluate_targets(results)]
    return results


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
    args = parser.parse_args(argv)
    plan = sections.Plan.quick() if args.quick else sections.Plan()
    args.out.mkdir(parents=True, exist_ok=True)
    results = run(plan, args.out, package=not args.no_package)
    stamp = results["timestamp"]
    before = orjson.loads(args.before.read_bytes()) if args.before.is_file() else None
    json_path = args.out / f"{stamp}.json"
    json_path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    plots = render_plots(results, args.out, stamp)
    markdown = render_markdown(results, before, [p.name for p in plots])
    md_path = args.out / f"{stamp}.md"
    md_path.write_text(markdown)
    _say(f"done in {results['wall_s']} s: {json_path}, {md_path}, {len(plots)} plots")
    missed = [t["name"] for t in results["targets"] if t["met"] is not True]
    _say("every target met" if not missed else "targets missed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())

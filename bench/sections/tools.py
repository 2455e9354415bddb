"""The brief's own load tools, ``ab -n 1000 -c 10`` and ``wrk -t2 -c10``, where installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import orjson

from bench.markdown import table
from bench.section import REPO, USER_BODY, Bench, Results, Section


def measure(bench: Bench) -> dict[str, Any]:
    url = bench.stack.urls["public"] + "/query/user"
    out: dict[str, Any] = {}
    ab = shutil.which("ab")
    if ab is None:
        out["ab"] = {"skipped": "ab is not installed (Debian: apache2-utils)"}
    else:
        body = bench.workdir / "body.json"
        body.write_bytes(USER_BODY)
        argv = [ab, "-q", "-n", "1000", "-c", "10", "-p", str(body), "-T", "application/json", url]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)  # noqa: S603
        shown = f"ab -n 1000 -c 10 -p body.json -T application/json {url}"
        out["ab"] = {"command": shown, **parse_ab(done.stdout)}
        bench.say(f"ab: {out['ab']}")
    wrk = shutil.which("wrk")
    if wrk is None:
        out["wrk"] = {"skipped": "wrk is not installed (Debian: wrk)"}
    else:
        script = REPO / "bench" / "query-test.lua"
        seconds = f"{bench.plan.wrk_seconds}s"
        argv = [wrk, "-t2", "-c10", f"-d{seconds}", "-s", str(script), url]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)  # noqa: S603
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
        try:
            figures = orjson.loads(last)
        except orjson.JSONDecodeError:
            figures = {"error": done.stdout[-300:] + done.stderr[-300:]}
        shown = f"wrk -t2 -c10 -d{seconds} -s bench/query-test.lua {url}"
        out["wrk"] = {"command": shown, **figures}
        bench.say(f"wrk: {out['wrk']}")
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


def render(tools: Results) -> list[str]:
    rows = []
    for name in ("ab", "wrk"):
        run = tools.get(name, {})
        if "skipped" in run:
            rows.append([name, run["skipped"], None, None, None, None, None])
            continue
        errors = run.get("non_2xx", 0) + run.get("socket_errors", 0) + run.get("failed", 0)
        rows.append(
            [
                name,
                f"`{run.get('command', '?')}`",
                run.get("requests"),
                run.get("throughput_rps"),
                run.get("p50_ms"),
                run.get("p99_ms"),
                errors,
            ]
        )
    return [
        "The brief's own load tools against the public gateway (`ab` without `-k` opens a "
        "connection per request):",
        "",
        *table(["tool", "command", "requests", "req/s", "p50 ms", "p99 ms", "errors"], rows),
    ]


SECTION = Section(key="tools", heading="### ab and wrk", measure=measure, render=render)

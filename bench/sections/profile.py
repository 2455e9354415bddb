"""pyinstrument on the two tiers that do the work of a query.

The ECS handler forwards to the stub upstream under load (its own cost, nothing
upstream's); the Query Result Lambda's handler queries DynamoDB Local one call after
the other.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.load import run_load, warm_up
from bench.section import USER_BODY, Bench, Results, Section
from bench.servers import IMAGE_ENV, server, stub_upstream
from query_service.ports import HOST
from tests.harness import free_port


def measure(bench: Bench) -> dict[str, Any]:
    plan, workdir, say = bench.plan, bench.workdir, bench.say
    port = free_port()
    ecs_report = workdir / "profile-ecs.txt"
    argv = [sys.executable, "-m", "bench.profile_tier", "ecs", "--port", str(port)]
    with stub_upstream(workdir) as (stub_url, _):
        env = {"INTERNAL_API_URL": stub_url, **IMAGE_ENV}
        health = f"http://{HOST}:{port}/health"
        with server([*argv, "--output", str(ecs_report)], health, env, workdir / "profile.log"):
            url = f"http://{HOST}:{port}/query/user"
            warm_up(url, USER_BODY, requests=200)
            result = run_load(url, USER_BODY, 10, duration=plan.profile_seconds)
    say(f"profile: ECS handler, {len(result.latencies_ms)} requests, report {ecs_report.name}")
    lambda_report = workdir / "profile-query-result.txt"
    lambda_env = {
        **os.environ,
        "DYNAMODB_ENDPOINT_URL": bench.stack.urls["dynamodb"],
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
    }
    made = subprocess.run(  # noqa: S603 - our own argv
        [
            sys.executable,
            "-m",
            "bench.profile_tier",
            "query_result",
            "--requests",
            str(plan.profile_lambda_requests),
            "--seconds",
            str(plan.profile_seconds),
            "--output",
            str(lambda_report),
        ],
        env=lambda_env,
        check=True,
        capture_output=True,
        text=True,
        # It stops calling after profile_seconds: this bounds only a hang (its imports and
        # warm-up calls take minutes at a load average of 30, not seconds).
        timeout=plan.profile_seconds + 600,
    )
    lambda_requests = int(made.stdout.split()[-1])
    say(f"profile: Query Result Lambda, {lambda_requests} requests, report {lambda_report.name}")
    return {
        "ecs": {
            "requests": len(result.latencies_ms),
            "report": ecs_report.name,
            "top": top_frames(_read(ecs_report)),
        },
        "query_result": {
            "requests": lambda_requests,
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


def render(profile: Results) -> list[str]:
    titles = {
        "ecs": "the ECS handler forwarding to the stub upstream at c=10 (request log on, "
        "as the image runs it)",
        "query_result": "the Query Result Lambda's handler, one `/query/user` after another",
    }
    lines = []
    for key, title in titles.items():
        part = profile[key]
        lines += [
            f"pyinstrument on {title}, {part['requests']:,} requests; own time per function "
            f"(s), heaviest first (the whole report: `{part['report']}` in the run's work "
            "folder):",
            "",
            "```",
            *part["top"],
            "```",
            "",
        ]
    return lines


SECTION = Section(key="profile", heading="## Profile", measure=measure, render=render)

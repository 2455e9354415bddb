"""Cold start: each Lambda handler module's import time and its zip's size."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.markdown import table
from bench.procs import Usage
from bench.section import REPO, Bench, Results, Say, Section
from bench.stats import Target, get

LAMBDA_MODULES = ("query_entry", "query_result", "stream_processor")

_IMPORT_PROBE = (
    "import time; t = time.perf_counter(); import query_service.lambdas.{m}; "
    "print((time.perf_counter() - t) * 1000)"
)


def measure(bench: Bench) -> dict[str, Any]:
    """Import time of each Lambda handler module in a fresh interpreter; each zip's size."""
    plan, say = bench.plan, bench.say
    import_ms: dict[str, float] = {}
    heaviest: dict[str, list[dict[str, Any]]] = {}
    with Usage({}) as usage:
        for module in LAMBDA_MODULES:
            import_ms[module], heaviest[module] = time_import(module, plan.import_repeats)
            say(f"cold start {module}: import {import_ms[module]} ms")
    zips: dict[str, Any] = {}
    if bench.package:
        zips = package_sizes(bench.workdir / "dist", say)
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


def render(cold: Results) -> list[str]:
    rows = []
    for module, ms in cold["import_ms"].items():
        heavy = ", ".join(
            f"{h['module']} {h['cumulative_ms']:.0f}" for h in cold["heaviest_imports"][module][:4]
        )
        size = cold.get("zips", {}).get(module, {}).get("mib")
        rows.append([f"query_service.lambdas.{module}", ms, size, heavy])
    lines = table(["module", "import ms", "zip MiB", "heaviest imports (ms, cumulative)"], rows)
    if "error" in cold.get("zips", {}):
        lines += ["", f"`make package` failed: {cold['zips']['error']}"]
    return lines


def targets(results: Results) -> list[Target]:
    imports = get(results, "cold_start", "import_ms") or {}
    return [Target(f"import {module}", ms, 300, "ms") for module, ms in imports.items()]


def explain(target: Target, results: Results) -> str | None:
    module = target.name.split()[1]
    heavy = results["cold_start"]["heaviest_imports"].get(module, [])[:4]
    listed = ", ".join(f"{h['module']} {h['cumulative_ms']:.0f} ms" for h in heavy)
    other = results["cold_start"].get("machine", {}).get("other_cpu_percent")
    return (
        f"other work on the machine took {other} % of a core (of "
        f"200 %) while the imports were timed; heaviest imports: {listed}."
    )


SECTION = Section(
    key="cold_start",
    heading="## Cold start",
    measure=measure,
    render=render,
    targets=targets,
    explain=explain,
    needs_stack=False,
)

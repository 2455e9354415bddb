"""Cold start: each Lambda's handler import as Lambda runs it, and its zip's size.

As Lambda runs it: the zip ``make package`` builds, unpacked into a read-only directory
(as /var/task is); the runtime's Python, python3.12, writing no bytecode
(PYTHONDONTWRITEBYTECODE, given as ``-B`` because ``-I`` ignores the environment, and
needed because root writes caches into a read-only directory all the same); beside
it boto3, botocore and Powertools at their locked versions with their bytecode, as the
runtime and the Powertools layer have them; a fresh interpreter for each run, the median of
several, the three functions taking turns so that the machine's other work falls on each
alike. The same zips with their bytecode taken out are timed alongside: what every cold
start paid while the zips shipped none.

The development venv's warm caches and Python 3.11 would say nothing of this: they are not
used.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tools import package_lambdas

from bench.markdown import fmt, table
from bench.procs import Usage
from bench.section import Bench, Results, Say, Section
from bench.stats import Target, get

FUNCTIONS = tuple(package_lambdas.FUNCTIONS)
# The targets of issue 12 item 8, for the import measured as Lambda runs it.
TARGET_MS = {"query_entry": 150.0, "query_result": 250.0, "stream_processor": 250.0}

# argv: the task directory, the runtime's, the handler module. Prints wall and CPU ms.
_PROBE = """
import sys, time
sys.path[:0] = sys.argv[1:3]
wall, cpu = time.perf_counter(), time.process_time()
__import__(sys.argv[3])
print((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
"""
_IMPORTTIME = "import sys; sys.path[:0] = sys.argv[1:3]; __import__(sys.argv[3])"


def measure(bench: Bench) -> dict[str, Any]:
    """Build the zips and the runtime beside them, then time each handler's import."""
    if not bench.package:
        return {"skipped": "--no-package: no zips were built to measure"}
    say, work = bench.say, bench.workdir
    uv = package_lambdas.find_uv()
    python, _ = package_lambdas.find_python(package_lambdas.DEFAULT_PYTHON, None, uv)
    say(f"cold start: building the zips and the runtime beside them for {python}")
    zips = package_lambdas.build(
        work / "dist", package_lambdas.DEFAULT_PYTHON, package_lambdas.DEFAULT_PLATFORM, uv
    )
    runtime = work / "runtime"
    package_lambdas.install_runtime(
        uv, runtime, package_lambdas.DEFAULT_PYTHON, package_lambdas.DEFAULT_PLATFORM, python
    )
    shipped = {f: unpack_read_only(zips[f], work / "task" / f) for f in FUNCTIONS}
    bare = {f: unpack_read_only(zips[f], work / "task-no-bytecode" / f, False) for f in FUNCTIONS}
    repeats = bench.plan.import_repeats
    with Usage({}) as usage:
        timed = time_imports(python, runtime, shipped, repeats)
        untimed = time_imports(python, runtime, bare, repeats)
    for function in FUNCTIONS:
        say(
            f"cold start {function}: import {timed[function]['wall_ms']} ms "
            f"({untimed[function]['wall_ms']} ms without bytecode)"
        )
    return {
        "python": python,
        "repeats": repeats,
        "import_ms": {f: timed[f]["wall_ms"] for f in FUNCTIONS},
        "runs": timed,
        "import_ms_without_bytecode": {f: untimed[f]["wall_ms"] for f in FUNCTIONS},
        "heaviest_imports": {f: traced(python, runtime, shipped[f], f) for f in FUNCTIONS},
        "machine": {**usage.machine, "load_avg": [round(x, 2) for x in os.getloadavg()]},
        "zips": sizes(zips, say),
    }


def unpack_read_only(archive: Path, target: Path, bytecode: bool = True) -> Path:
    """``archive`` unpacked into ``target``, as Lambda has it: nothing there can be written."""
    if target.exists():
        for path in [target, *target.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(target)
    with zipfile.ZipFile(archive) as opened:
        for member in opened.namelist():
            if bytecode or not member.endswith(".pyc"):
                opened.extract(member, target)
    for path in [*target.rglob("*"), target]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    return target


def _lambda_run(
    python: str, runtime: Path, task: Path, function: str, code: str = _PROBE, *flags: str
) -> subprocess.CompletedProcess[str]:
    """One fresh interpreter running ``code`` on ``function``'s handler, as Lambda would."""
    module = package_lambdas.FUNCTIONS[function]
    # -I: no user site, no PYTHON* variables, no cwd on the path; -S: not even the
    # interpreter's own site-packages; -B: no bytecode written. cwd: /var/task's stand-in.
    return subprocess.run(  # noqa: S603 - our own argv
        [python, "-I", "-S", "-B", *flags, "-c", code, str(task), str(runtime), module],
        capture_output=True,
        text=True,
        check=True,
        cwd=task,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_DEFAULT_REGION": "ap-southeast-1",
            "AWS_REGION": "ap-southeast-1",
            "AWS_LAMBDA_FUNCTION_NAME": function,
        },
    )


def time_imports(
    python: str, runtime: Path, tasks: Mapping[str, Path], repeats: int
) -> dict[str, dict[str, Any]]:
    """Median wall and CPU ms of each handler's import over ``repeats`` fresh interpreters."""
    wall: dict[str, list[float]] = {f: [] for f in tasks}
    cpu: dict[str, list[float]] = {f: [] for f in tasks}
    for _ in range(repeats):
        for function, task in tasks.items():
            done = _lambda_run(python, runtime, task, function)
            wall_ms, cpu_ms = (float(x) for x in done.stdout.split())
            wall[function].append(wall_ms)
            cpu[function].append(cpu_ms)
    return {
        f: {
            "wall_ms": round(statistics.median(wall[f]), 1),
            "cpu_ms": round(statistics.median(cpu[f]), 1),
            "wall_ms_min": round(min(wall[f]), 1),
            "wall_ms_all": [round(x, 1) for x in wall[f]],
        }
        for f in tasks
    }


def traced(python: str, runtime: Path, task: Path, function: str) -> list[dict[str, Any]]:
    """The heaviest imports of one more such run, as ``-X importtime`` lists them."""
    done = _lambda_run(python, runtime, task, function, _IMPORTTIME, "-X", "importtime")
    own = package_lambdas.FUNCTIONS[function]
    return [r for r in heaviest_imports(done.stderr) if r["module"] != own]


def heaviest_imports(importtime: str, count: int = 8) -> list[dict[str, Any]]:
    """Top-level-ish packages by cumulative import time, from ``-X importtime`` output."""
    rows: list[tuple[float, str]] = []
    for line in importtime.splitlines():
        found = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)", line)
        if found and len(found.group(3)) <= 3:  # the imported module and its direct imports
            rows.append((int(found.group(2)) / 1000, found.group(4)))
    rows.sort(reverse=True)
    return [{"module": module, "cumulative_ms": ms} for ms, module in rows[:count]]


def sizes(zips: Mapping[str, Path], say: Say) -> dict[str, Any]:
    found = {
        name: {"bytes": path.stat().st_size, "mib": round(path.stat().st_size / 2**20, 2)}
        for name, path in sorted(zips.items())
    }
    say("zips: " + ", ".join(f"{k} {v['mib']} MiB" for k, v in found.items()))
    return found


def render(cold: Results) -> list[str]:
    if "skipped" in cold:
        return [f"Not measured: {cold['skipped']}."]
    rows = []
    for function, ms in cold["import_ms"].items():
        heavy = ", ".join(
            f"{h['module']} {h['cumulative_ms']:.0f}"
            for h in cold["heaviest_imports"][function][:4]
        )
        runs = cold.get("runs", {}).get(function, {})
        without = cold.get("import_ms_without_bytecode", {}).get(function)
        size = cold.get("zips", {}).get(function, {}).get("mib")
        rows.append([function, ms, runs.get("cpu_ms"), without, size, heavy])
    header = [
        "Lambda",
        "import ms",
        "CPU ms",
        "without bytecode ms",
        "zip MiB",
        "heaviest imports (ms, cumulative)",
    ]
    machine = cold.get("machine", {})
    return [
        f"Each handler module imported as Lambda imports it: its zip unpacked read-only, "
        f"`{cold.get('python', 'python3.12')}` with `-I -S -B`, boto3 and Powertools beside "
        f"it with their bytecode; median of {cold.get('repeats', '?')} fresh interpreters "
        "each. *Without bytecode*: the same zips without their `.pyc` files, as they were "
        f"shipped before. Other work took {fmt(machine.get('other_cpu_percent'))} % of a "
        f"core (of 200 %) meanwhile; load average {machine.get('load_avg', '?')}.",
        "",
        *table(header, rows),
    ]


def targets(results: Results) -> list[Target]:
    imports = get(results, "cold_start", "import_ms") or {}
    return [
        Target(f"import {function} as Lambda runs it", imports.get(function), limit, "ms")
        for function, limit in TARGET_MS.items()
    ]


def explain(target: Target, results: Results) -> str | None:
    function = target.name.split()[1]
    cold = results["cold_start"]
    heavy = cold["heaviest_imports"].get(function, [])[:4]
    listed = ", ".join(f"{h['module']} {h['cumulative_ms']:.0f} ms" for h in heavy)
    cpu = cold.get("runs", {}).get(function, {}).get("cpu_ms")
    other = cold.get("machine", {}).get("other_cpu_percent")
    return (
        f"{fmt(cpu)} ms of it on the CPU; other work on the machine took {other} % of a core "
        f"(of 200 %) while the imports were timed; heaviest imports: {listed}."
    )


def compare(results: Results, before: Results) -> list[list[Any]]:
    """Before/after, where the run before measured the imports the same way."""
    after = get(results, "cold_start") or {}
    earlier = get(before, "cold_start") or {}
    wall, cpu = earlier.get("lambda_import_ms", {}), earlier.get("lambda_import_cpu_ms", {})
    rows = []
    for function in FUNCTIONS:
        if function in wall:
            after_wall = after.get("import_ms", {}).get(function)
            rows.append([f"import {function} as Lambda runs it (ms)", wall[function], after_wall])
        if function in cpu:
            after_cpu = after.get("runs", {}).get(function, {}).get("cpu_ms")
            rows.append([f"import {function} as Lambda runs it (CPU ms)", cpu[function], after_cpu])
    return rows


SECTION = Section(
    key="cold_start",
    heading="## Cold start",
    measure=measure,
    render=render,
    targets=targets,
    explain=explain,
    compare=compare,
    needs_stack=False,
)

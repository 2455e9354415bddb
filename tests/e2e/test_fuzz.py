"""Schemathesis against the running stack, as an outside reviewer runs it.

``schemathesis run`` with every check (``--checks all``), in its coverage, fuzzing and
stateful phases (the stateful phase follows the links schemathesis infers, e.g. a page's
next_cursor into the next request), once on the ECS handler with the document it serves,
once through the public gateway with the public API's document (docs/openapi-public.json:
what API Gateway serves), over real HTTP through every tier down to DynamoDB Local. The
console's HTML pages, which no API document describes, are fuzzed for "never a 5xx".

The exceptions are those of schemathesis.toml, which the command line reads too: each is
named there, or in tests/fuzz_rules.py, with the reason the check cannot know the rule.

The runs are three ``schemathesis`` processes at once (the two entry points and the
console), not threads of this one: generating cases is CPU work, and two processes use
the machine's two cores where threads would share one interpreter lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.cost(100)]

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_DOCUMENT = ROOT / "docs" / "openapi-public.json"
MIN_CASES = 2000
# Cases per operation and mode in the fuzzing phase (the coverage phase draws its own,
# about 1,200 per document): with it, about 2,700 cases through the two entry points.
MAX_EXAMPLES = 10
SEED = 17  # the same cases every run: a failure is reproduced by running the test again


def console_document() -> dict[str, Any]:
    """The console's pages as an OpenAPI document, for generation only: HTML in any status
    but a 5xx (its answers are pages, not a schema's)."""
    text = {"schema": {"type": "string", "minLength": 1}}

    def page(*path: str, query: tuple[str, ...] = ()) -> dict[str, Any]:
        parameters = [{"name": p, "in": "path", "required": True, **text} for p in path]
        parameters += [{"name": q, "in": "query", "required": False, **text} for q in query]
        return {
            "get": {
                "parameters": parameters,
                "responses": {"default": {"description": "an HTML page"}},
            }
        }

    filters = ("status", "platform", "window", "cursor", "limit")
    return {
        "openapi": "3.1.0",
        "info": {"title": "query-service console", "version": "1"},
        "paths": {
            "/console/": page(),
            "/console/search": page(query=("q",)),
            "/console/users/{user_id}": page("user_id", query=(*filters, "via")),
            "/console/transactions/{transaction_id}": page(
                "transaction_id", query=(*filters, "via")
            ),
            "/console/deliveries/{transaction_id}/{user_id}": page("transaction_id", "user_id"),
            "/console/static/{name}": page("name"),
        },
    }


@dataclass
class Run:
    name: str
    process: subprocess.Popen[bytes]
    report: Path
    output: Path

    def result(self) -> dict[str, Any]:
        if not self.report.is_file():
            return {}
        data: dict[str, Any] = json.loads(self.report.read_text())
        return data


def config(work: Path) -> Path:
    """schemathesis.toml as it is (the exceptions), without the crash cache: a run replays
    the failures of earlier runs, with the documents those had."""
    path = work / "schemathesis.toml"
    path.write_text(f"{(ROOT / 'schemathesis.toml').read_text()}\n[cache]\nenabled = false\n")
    return path


def start(name: str, location: str, base_url: str, work: Path, *options: str) -> Run:
    """``schemathesis run`` from the repository (where the rules module of the config is
    found), its output and JSON report in ``work``."""
    report, output = work / f"{name}.json", work / f"{name}.out"
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config(work)),
        "run",
        location,
        "--url",
        base_url,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        "coverage,fuzzing,stateful",
        "--seed",
        str(SEED),
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *options,
    ]
    with output.open("wb") as sink:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SCHEMATHESIS_COLOR": "false"},
        )
    return Run(name, process, report, output)


# Three runs through two tiers on a loaded machine: more than the suite's 120 s.
@pytest.mark.timeout(600)
def test_every_check_on_both_entry_points_and_the_console_finds_no_error(
    stack: Stack, tmp_path: Path
) -> None:
    console = tmp_path / "console-openapi.json"
    console.write_text(json.dumps(console_document()))
    started = time.perf_counter()
    runs = [
        start("ecs", f"{stack.ecs}/openapi.json", stack.ecs, tmp_path, "--checks", "all"),
        start("public", str(PUBLIC_DOCUMENT), stack.public, tmp_path, "--checks", "all"),
        start("console", str(console), stack.ecs, tmp_path, "--checks", "not_a_server_error"),
    ]
    try:
        for run in runs:
            run.process.wait(timeout=540)
    finally:
        for run in runs:  # none outlives the test, whatever stopped it
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()
    seconds = time.perf_counter() - started

    results = {run.name: run.result() for run in runs}
    for name, result in results.items():
        print(f"{name}: {summary(result)}")
    print(f"wall time of the three runs at once: {seconds:.1f} s")
    for run in runs:
        result = results[run.name]
        assert run.process.returncode == 0 and result.get("complete"), (
            f"{run.name}: {summary(result)}\n{tail(run.output)}"
        )
        assert not result["failures"] and not result["errors"], summary(result)
        assert result["operations"]["tested"] == result["operations"]["total"], summary(result)
        # The console's document has no links, so no stateful phase.
        wanted = {"coverage", "fuzzing"} | ({"stateful"} if run.name != "console" else set())
        assert wanted <= passed_phases(result), f"{run.name}: {summary(result)}"
    for name in ("ecs", "public"):
        result = results[name]
        # Every part of the document was read (a $ref nobody resolves is skipped, silently
        # but for this warning), and every query was served, not only refused: fuzzing that
        # only ever met 400s would prove little.
        assert not result["warnings"]["unresolvable_reference"], result["warnings"]
        served = {op for op, rates in result["valid_rates"].items() if accepted(rates)}
        unserved = {
            op for op in result["valid_rates"] if "marketing" not in op and "delivery" not in op
        } - served
        assert not unserved, f"{name}: no request served on {sorted(unserved)}"
    api_cases = sum(cases(results[name]) for name in ("ecs", "public"))
    assert api_cases >= MIN_CASES, {name: summary(r) for name, r in results.items()}
    assert cases(results["console"]) > 0


def accepted(rates: dict[str, dict[str, int]]) -> int:
    return sum(phase["accepted"] for phase in rates.values())


def passed_phases(result: dict[str, Any]) -> set[str]:
    return {phase for phase, state in result["phases"].items() if state["status"] == "success"}


def summary(result: dict[str, Any]) -> str:
    failures = [f"{f['code']} {f['title']} x{f['count']}" for f in result.get("failures", [])]
    return (
        f"{cases(result)} cases, phases "
        f"{ {p: s['status'] for p, s in result.get('phases', {}).items()} }, "
        f"failures {failures or 'none'}, errors {result.get('errors') or 'none'}"
    )


def cases(result: dict[str, Any]) -> int:
    return int(result.get("test_cases", {}).get("generated", 0))


def tail(path: Path, lines: int = 80) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

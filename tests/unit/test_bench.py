"""The benchmark's own logic: figures it quotes and the document it writes must not rot."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from bench.procs import Usage, children, cmdline, tier_of
from bench.report import render_markdown, render_plots
from bench.section import BODIES
from bench.sections import cold_start, evaluate_targets, projection
from bench.sections.cold_start import heaviest_imports
from bench.sections.profile import top_frames
from bench.sections.scale import HOT_CAMPAIGN, HOT_USER, scale_records
from bench.sections.tools import parse_ab
from bench.servers import IMAGE_ENV, ecs_argv
from bench.stats import Target, cdf_points, percentile, summarise


def test_percentile_interpolates_between_ranks_as_numpy_does() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 95) == pytest.approx(4.8)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile(values, 101)


def test_summary_counts_errors_in_throughput_but_not_in_latency() -> None:
    figures = summarise([10.0] * 98 + [50.0, 100.0], errors=2, elapsed_s=2.0)
    assert figures["requests"] == 102
    assert figures["throughput_rps"] == 51.0
    assert figures["error_rate"] == pytest.approx(2 / 102)
    assert figures["p50_ms"] == 10.0
    assert figures["max_ms"] == 100.0
    assert summarise([], errors=3, elapsed_s=1.0)["p99_ms"] is None


def test_cdf_points_end_at_the_slowest_request() -> None:
    points = cdf_points([float(i) for i in range(1, 1001)], points=10)
    assert points[0] == (1.0, 0.001)
    assert points[-1] == (1000.0, 1.0)
    assert [y for _, y in points] == sorted(y for _, y in points)
    assert cdf_points([]) == []


CHILD = """
import sys, time
print("ready", flush=True)
sys.stdin.readline()
started = time.process_time()
while time.process_time() - started < 0.3:
    pass
print("done", flush=True)
time.sleep(30)
"""


def test_usage_counts_the_cpu_a_child_burns_and_not_the_load_generators() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == "ready\n"
        assert child.pid in children(os.getpid())
        assert "time.process_time()" in cmdline(child.pid)
        with Usage({"child": child.pid}) as usage:
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline() == "done\n"
    finally:
        child.kill()
        child.wait()
    figures = usage.figures["child"]
    burnt_s = figures["cpu_percent"] / 100 * usage.wall_s
    assert 0.25 <= burnt_s <= 0.5
    assert figures["rss_mib"] > 1
    assert usage.machine["load_generator_cpu_percent"] < figures["cpu_percent"]
    assert usage.machine["cores"] >= 1


def test_the_stacks_processes_are_told_apart_by_their_command_lines() -> None:
    java = "/usr/bin/java -Djava.library.path=/c/DynamoDBLocal_lib -jar /c/DynamoDBLocal.jar"
    assert tier_of(java) == "dynamodb"
    assert tier_of("python -m query_service.cli local gateway internal --port 1") == "internal"
    assert tier_of("python -m query_service.cli local gateway public --port 2") == "public"
    assert tier_of("python -m uvicorn query_service.ecs.app:app --port 3") == "ecs"
    assert tier_of("python -m query_service.cli local stream --state-dir s") == "stream"
    assert tier_of("python -m pytest") is None


def _document(p99: float, import_ms: float, naive_ratio: float) -> dict[str, Any]:
    def run(path: str, c: int, errors: int = 0) -> dict[str, Any]:
        figures = summarise([10.0, 20.0, p99], errors, 1.0)
        tiers = {"ecs": {"cpu_percent": 30.0, "rss_mib": 80.0}}
        return {"path": path, "concurrency": c, "tiers": tiers, "statuses": {}, **figures}

    forward = {
        name: {"concurrency": 50, "cpu_percent": 50.0, "rss_mib": 60.0, **summarise([5.0], 0, 1)}
        for name in ("ecs_handler", "floor_aiohttp", "floor_httpx", "floor_naive")
    }
    before = {**forward["ecs_handler"], "rounds_cpu_us": [900.0, 950.0]}
    ratios = {
        "ecs_over_floor": 0.8,
        "httpx_over_aiohttp": 0.3,
        "pooled_over_naive": naive_ratio,
        "ecs_over_naive": 2.0,
    }
    query = {"chain": summarise([6.0], 0, 1), "dynamodb": summarise([2.0], 0, 1), "items": 10}
    return {
        "timestamp": "20260101T000000Z",
        "machine": {"cpus": 2, "python": "3.11", "load_avg_at_start": [0.1, 0.1, 0.1]},
        "engine": "dynamodb-local",
        "wall_s": 300.0,
        "chain": {
            "runs": [run(p, c) for c in (1, 10, 50) for p in BODIES],
            "cdf": {"/query/user c=10": [(10.0, 0.5), (p99, 1.0)]},
            "ecs_requests_served": 20_000,
            "ecs_rss_mib_after": 90.0,
        },
        "floor": {
            "dynamodb": {"/query/user": summarise([2.0], 0, 1)},
            "internal_upstream": {"runs": forward, "ratios": ratios},
            "stub_upstream": {
                "runs": {**forward, "ecs_handler_before": before},
                "ratios": {
                    **ratios,
                    "ecs_before_over_floor": 0.4,
                    "ecs_before_cpu_over_floor": 2.9,
                },
            },
        },
        "scale": {
            "steps": [{"records": n, "load_s": 1.0, "user": query, "fail": query} for n in (1, 2)],
            "hot_user": HOT_USER,
            "hot_campaign": HOT_CAMPAIGN,
            "ratios": {"user": 1.0, "fail": 1.1},
            "ratios_dynamodb": {"user": 1.0, "fail": 1.0},
        },
        "cold_start": {
            "import_ms": {"query_entry": import_ms, "query_result": 120.0},
            "import_ms_without_bytecode": {"query_entry": 2 * import_ms},
            "runs": {"query_entry": {"cpu_ms": import_ms / 2}},
            "heaviest_imports": {"query_entry": [], "query_result": []},
            "zips": {"query_entry": {"bytes": 3_000_000, "mib": 2.86}},
            "lambda_import_ms": {"query_entry": 568.0},
            "lambda_import_cpu_ms": {"query_entry": 300.0},
        },
        "tools": {
            "ab": {"command": "ab -n 1000", "requests": 1000, "failed": 0, "non_2xx": 0},
            "wrk": {"skipped": "wrk is not installed"},
        },
        "profile": {
            tier: {"requests": 100, "report": f"{tier}.txt", "top": ["0.5 f  a.py:1"]}
            for tier in ("ecs", "query_result")
        },
    }


def test_targets_read_every_figure_the_issue_names() -> None:
    targets = {t.name: t for t in evaluate_targets(_document(80.0, 350.0, 1.6))}
    assert targets["chain p99 at c=10 (worst path)"].met is True
    assert targets["chain errors at c=50"].measured == 0
    assert targets["chain errors at c=50"].met is True
    assert targets["pooled / naive throughput, upstream: internal gateway"].met is True
    assert targets["ECS handler / floor throughput, upstream: stub"].measured == 0.8
    assert targets["/query/fail p50 at 100k / at 1k"].met is True
    assert targets["import query_entry as Lambda runs it"].met is False
    assert targets["import query_result as Lambda runs it"].met is True
    assert targets["import stream_processor as Lambda runs it"].met is None  # not measured
    assert targets["ECS handler RSS after the chain runs"].measured == 90.0
    assert targets["chain /query/delivery p50 over /query/user p50 at c=10"].met is True
    missed = {t.name for t in evaluate_targets(_document(150.0, 100.0, 1.2)) if t.met is False}
    assert missed == {
        "chain p99 at c=10 (worst path)",
        "pooled / naive throughput, upstream: internal gateway",
        "pooled / naive throughput, upstream: stub",
    }


def test_the_delivery_query_is_held_to_the_user_querys_median() -> None:
    document = _document(80.0, 350.0, 1.6)
    for run in document["chain"]["runs"]:
        if run["path"] == "/query/delivery":
            run["p50_ms"] = 30.0
    [target] = [
        t for t in evaluate_targets(document) if t.name.startswith("chain /query/delivery p50")
    ]
    assert (target.measured, target.met) == (1.5, False)  # the user query's p50 is 20 ms


def test_a_figure_that_was_not_measured_is_not_a_pass() -> None:
    assert Target("x", None, 1.0, "x", higher_is_better=True).met is None
    assert all(t.met is None for t in evaluate_targets({}))


def test_summary_names_each_verdict_and_compares_with_the_run_before() -> None:
    before = _document(150.0, 400.0, 1.2)
    markdown = render_markdown(_document(80.0, 100.0, 1.6), before, ["x-scale.png"])
    row = next(r for r in markdown.splitlines() if r.startswith("| chain p99 at c=10"))
    assert row.endswith("| < 100 ms | **pass** |")
    assert "## Before and after the fixes" in markdown
    assert "![x-scale.png](x-scale.png)" in markdown
    assert "**MISS**" not in markdown
    assert "**MISS**" in render_markdown(before, None, [])


def test_every_table_row_has_as_many_cells_as_its_header() -> None:
    markdown = render_markdown(_document(80.0, 100.0, 1.6), _document(90.0, 100.0, 1.6), [])
    width = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        cells = line.count("|")
        width = width or cells
        assert cells == width, line


def test_scale_table_has_a_hot_user_and_a_campaign_with_few_failures() -> None:
    items = list(scale_records(0, 1000, now_ms=1_795_500_000_000))
    assert len({(i["user_id"], i["sk"]) for i in items}) == 1000
    assert sum(i["user_id"] == HOT_USER for i in items) == 100
    campaign = [i for i in items if i["transaction_id"] == HOT_CAMPAIGN]
    failed = [i for i in campaign if i["failed_tx"] == HOT_CAMPAIGN]
    assert len(campaign) == 100
    assert 10 <= len(failed) <= 25
    more = list(scale_records(1000, 10_000, now_ms=1_795_500_000_000))
    assert len({(i["user_id"], i["sk"]) for i in items + more}) == 10_000


def test_import_and_profile_reports_are_read_for_their_heaviest_lines() -> None:
    importtime = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   _io\n"
        "import time:      5000 |     210000 |   boto3\n"
        "import time:       300 |        900 |       boto3.compat\n"
        "import time:      1000 |     260000 | query_service.lambdas.query_result\n"
    )
    rows = heaviest_imports(importtime)
    assert [r["module"] for r in rows] == ["query_service.lambdas.query_result", "boto3", "_io"]
    assert rows[1]["cumulative_ms"] == 210.0
    report = "header\n1.7611 [self]  asyncio/runners.py\n\n0.3861 Record.from_mapping  r.py:93\n"
    assert top_frames(report) == [
        "1.7611 [self]  asyncio/runners.py",
        "0.3861 Record.from_mapping  r.py:93",
    ]


AB_REPORT = """
Concurrency Level:      10
Complete requests:      1000
Failed requests:        0
Non-2xx responses:      3
Requests per second:    245.12 [#/sec] (mean)

Percentage of the requests served within a certain time (ms)
  50%     38
  99%     80
 100%    120 (longest request)
"""


def test_an_ab_report_is_read_for_the_figures_the_summary_quotes() -> None:
    assert parse_ab(AB_REPORT) == {
        "requests": 1000,
        "failed": 0,
        "non_2xx": 3,
        "throughput_rps": 245.12,
        "p50_ms": 38,
        "p99_ms": 80,
    }
    assert parse_ab(AB_REPORT.replace("Non-2xx responses:      3\n", ""))["non_2xx"] == 0


def test_the_ecs_handler_is_benchmarked_as_the_image_runs_it() -> None:
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    argv = ecs_argv(4321)
    assert argv[1:3] == ["-m", "uvicorn"]
    assert argv[argv.index("--port") + 1] == "4321"
    for flag in ("query_service.ecs.app:app", "--timeout-graceful-shutdown"):
        assert flag in argv and f'"{flag}"' in dockerfile
    assert "--no-access-log" not in argv
    assert IMAGE_ENV["LOG_LEVEL"] == "INFO"  # the request log on, as in production
    assert all(f"{k}={v}" in dockerfile for k, v in IMAGE_ENV.items() if k != "LOG_LEVEL")


def test_an_earlier_handler_measured_beside_todays_is_in_the_floor_table() -> None:
    markdown = render_markdown(_document(80.0, 100.0, 1.6), None, [])
    assert "ECS handler, the version given by --ecs-before" in markdown
    assert "/ floor 0.40x, CPU µs per request over the floor's 2.90x" in markdown


def test_cold_start_compares_only_imports_measured_as_lambda_runs_them() -> None:
    after, before = _document(80.0, 100.0, 1.6), _document(150.0, 400.0, 1.2)
    assert cold_start.compare(after, before) == [
        ["import query_entry as Lambda runs it (ms)", 568.0, 100.0],
        ["import query_entry as Lambda runs it (CPU ms)", 300.0, 50.0],
    ]
    del before["cold_start"]["lambda_import_ms"]  # a run that timed the development venv
    del before["cold_start"]["lambda_import_cpu_ms"]
    assert cold_start.compare(after, before) == []


def test_a_zip_is_unpacked_read_only_with_or_without_its_bytecode(tmp_path: Path) -> None:
    archive = tmp_path / "f.zip"
    with zipfile.ZipFile(archive, "w") as opened:
        opened.writestr("pkg/m.py", "X = 1\n")
        opened.writestr("pkg/__pycache__/m.cpython-312.pyc", b"\xcb\r\r\n")
    shipped = cold_start.unpack_read_only(archive, tmp_path / "task")
    bare = cold_start.unpack_read_only(archive, tmp_path / "bare", bytecode=False)
    try:
        assert (shipped / "pkg/__pycache__/m.cpython-312.pyc").is_file()
        assert not (bare / "pkg/__pycache__").exists()
        assert (bare / "pkg/m.py").read_text() == "X = 1\n"
        assert {p.stat().st_mode & 0o222 for p in [shipped, *shipped.rglob("*")]} == {0}
        cold_start.unpack_read_only(archive, tmp_path / "task")  # again, over the first
    finally:
        for path in [tmp_path, *tmp_path.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_the_stats_query_is_held_to_the_user_querys_median_at_both_sizes() -> None:
    def run(label: str, p50: float) -> dict[str, Any]:
        return {"label": label, "concurrency": 10, "requests": 300, "errors": 0} | {
            "p50_ms": p50,
            "p99_ms": 2 * p50,
        }

    projection = [
        {"statistics": s, "deliveries": 2000, "write_s": 9.0, "catch_up_s": c, "ms_per_delivery": m}
        for s, c, m in ((False, 3.0, 6.0), (True, 5.0, 7.0))
    ]
    document = _document(80.0, 100.0, 1.6) | {
        "statistics": {
            "sizes": [100, 10_000],
            "requests": 300,
            "runs": [run("user", 20.0), run("stats 100", 21.0), run("stats 10,000", 27.0)],
            "load_1min_during_runs": [3.0, 3.1, 3.2],
            "counted_total": 10_000,
            "projection": projection,
            "load_1min_after_projection": 3.0,
        }
    }
    targets = {t.name: t for t in evaluate_targets(document)}
    assert targets["stats p50 / user p50 (c=10)"].measured == 1.35
    assert targets["stats p50 / user p50 (c=10)"].met is False
    assert targets["stats p50, 10,000 / 100 deliveries"].measured == round(27 / 21, 3)
    assert "| on | 2,000 | 9.0 | 5.0 | 7.0 |" in render_markdown(document, document, [])


def test_the_projection_is_held_to_its_cpu_per_record_before_timelines() -> None:
    before = projection.BEFORE_CPU_MS_PER_RECORD

    def round_(cpu: float) -> dict[str, Any]:
        return {
            "records": 8214,
            "seconds": 60.0,
            "records_per_s": 136.9,
            "stream_cpu_ms_per_record": cpu / 2,
            "dynamodb_cpu_ms_per_record": cpu / 2,
            "cpu_ms_per_record": cpu,
            "load_1min": [3.0, 4.0],
        }

    def section(cpu: float) -> dict[str, Any]:
        return {
            "users": 100,
            "transactions": 40,
            "rounds": [round_(3 * cpu), round_(cpu), round_(cpu)],  # round 0: the warm-up
            "cpu_ms_per_record": cpu,
            "before_cpu_ms_per_record": before,
        }

    [met] = projection.targets({"projection": section(1.05 * before)})
    assert (met.measured, met.limit, met.unit, met.met) == (1.05, 1.10, "x", True)
    [missed] = projection.targets({"projection": section(1.15 * before)})
    assert (missed.measured, missed.met) == (1.15, False)
    assert projection.targets({})[0].met is None  # not measured: not a pass
    lines = projection.render(section(4.0))
    assert any("**4.0 ms**" in line for line in lines)
    assert "| 1 | 8,214 | 60.0 | 136.9 | 2.00 | 2.00 | 4.00 | 3.0 -> 4.0 |" in lines
    assert projection.render({"skipped": "no Java"}) == ["Not measured: no Java."]


def test_the_floor_section_plots_without_the_chain(tmp_path: Path) -> None:
    # `--sections floor` measures no chain: its plot must still be drawn, not raise KeyError.
    document = _document(80.0, 100.0, 1.6)
    del document["chain"]
    paths = render_plots(document, tmp_path, document["timestamp"])
    assert f"{document['timestamp']}-throughput.png" in [p.name for p in paths]
    assert all(p.stat().st_size > 0 for p in paths)

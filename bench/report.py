"""The result document as a markdown summary and PNG plots."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.stats import evaluate_targets


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return lines


def _verdict(met: bool | None) -> str:
    return {True: "**pass**", False: "**MISS**", None: "not measured"}[met]


def targets_section(results: Mapping[str, Any]) -> list[str]:
    rows = []
    for target in evaluate_targets(results):
        sign = "≥" if target.higher_is_better else ("≤" if target.unit == "x" else "<")
        limit = f"{sign} {_fmt(target.limit, 2 if target.unit == 'x' else 0)} {target.unit}"
        measured = _fmt(target.measured, 2 if target.unit == "x" else 1)
        rows.append([target.name, measured, limit, _verdict(target.met)])
    return _table(["target", "measured", "limit", "verdict"], rows)


def _chain_run(results: Mapping[str, Any], path: str, c: int) -> Mapping[str, Any]:
    for run in results.get("chain", {}).get("runs", []):
        if run["path"] == path and run["concurrency"] == c:
            return run  # type: ignore[no-any-return]
    return {}


def misses_section(results: Mapping[str, Any]) -> list[str]:
    """Each missed target with what this run's own figures say of its cause."""
    notes = []
    for target in evaluate_targets(results):
        if target.met is not False:
            continue
        name = target.name
        if name.startswith("chain"):
            c = 10 if "c=10" in name else 50
            runs = [_chain_run(results, p, c) for p in ("/query/user", "/query/fail")]
            other = [r.get("machine", {}).get("other_cpu_percent") for r in runs]
            tiers = runs[0].get("tiers", {})
            busiest = max(tiers, key=lambda t: tiers[t]["cpu_percent"]) if tiers else "?"
            notes.append(
                f"- **{name}**: other work on the machine took {other} % of a core during the "
                f"two c={c} runs (of 200 %); the busiest tier was {busiest}. Every tier, "
                "DynamoDB Local and the load generator share two cores, so the tail is the "
                "scheduler's: a quiet machine, or fewer tiers per core, is what moves it."
            )
        elif name.startswith("pooled / naive") and "internal" in name:
            runs = results["floor"]["internal_upstream"]["runs"]
            notes.append(
                f"- **{name}**: the upstream (internal gateway, Query Result Lambda, DynamoDB "
                f"Local) tops out near {runs['floor_aiohttp']['throughput_rps']:,.0f} req/s, "
                "below what either forwarder can send, so a connection per request costs the "
                "naive forwarder little that shows. Against the stub upstream the same two "
                "forwarders differ by "
                f"{results['floor']['stub_upstream']['ratios']['pooled_over_naive']}x."
            )
        elif name.startswith("ECS handler / floor"):
            notes.append(
                f"- **{name}**: the floor only moves bytes; the ECS handler also routes through "
                "FastAPI (dependencies, exception middleware), validates the query (pydantic), "
                "and checks each of the ten records the upstream returns (see the profile; "
                "its request log is off in this section, as the floor has none). What would "
                "close the gap: drop the per-record "
                "check (trust the internal API) or FastAPI's routing for the query paths; "
                "neither was done, as both trade away a guarantee for a tier that is not the "
                "chain's bottleneck (its CPU % in the chain table)."
            )
        elif name.startswith("pooled / naive"):
            notes.append(f"- **{name}**: see the forwarders' CPU and rounds in the floor table.")
        elif name.startswith("/query/"):
            query = name.split()[0].removeprefix("/query/")
            direct = results["scale"]["ratios_dynamodb"].get(query)
            notes.append(
                f"- **{name}**: DynamoDB alone changed {direct}x over the same sizes; a ratio "
                "through the chain far from DynamoDB's is the machine's noise, not the table."
            )
        elif name.startswith("import"):
            module = name.split()[1]
            heavy = results["cold_start"]["heaviest_imports"].get(module, [])[:4]
            listed = ", ".join(f"{h['module']} {h['cumulative_ms']:.0f} ms" for h in heavy)
            other = results["cold_start"].get("machine", {}).get("other_cpu_percent")
            notes.append(
                f"- **{name}**: other work on the machine took {other} % of a core (of "
                f"200 %) while the imports were timed; heaviest imports: {listed}."
            )
        else:
            notes.append(f"- **{name}**: measured {target.measured} {target.unit}.")
    return notes


def chain_section(chain: Mapping[str, Any]) -> list[str]:
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
        *_table([*header, "CPU % by tier", "load gen %", "other %"], rows),
    ]
    last = chain["runs"][-1]["tiers"]
    rss = ", ".join(f"{name} {t['rss_mib']:.0f}" for name, t in last.items())
    lines += [
        "",
        f"RSS (MiB) after the last run: {rss}. The ECS handler had served "
        f"{chain['ecs_requests_served']:,} requests.",
    ]
    return lines


def tools_section(tools: Mapping[str, Any]) -> list[str]:
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
        *_table(["tool", "command", "requests", "req/s", "p50 ms", "p99 ms", "errors"], rows),
    ]


def floor_section(floor: Mapping[str, Any]) -> list[str]:
    lines = ["DynamoDB Local's own query time (boto3, one at a time, Limit 10):", ""]
    lines += _table(
        ["query", "p50 ms", "p95 ms", "p99 ms"],
        [[p, f["p50_ms"], f["p95_ms"], f["p99_ms"]] for p, f in floor["dynamodb"].items()],
    )
    names = {
        "ecs_handler": "ECS handler (FastAPI, pooled aiohttp)",
        "floor_aiohttp": "floor: bare ASGI, pooled aiohttp",
        "floor_httpx": "floor: bare ASGI, pooled httpx",
        "floor_naive": "naive: bare ASGI, new aiohttp session per request",
    }
    for key, title in (
        ("internal_upstream", "against the internal gateway (the real upstream)"),
        ("stub_upstream", "against a stub upstream (a canned page: the tier's own cost)"),
    ):
        part = floor[key]
        rows = [
            [
                names[n],
                r["throughput_rps"],
                r["p50_ms"],
                r["p99_ms"],
                r["errors"],
                r["cpu_percent"],
                cpu_us_per_request(r["cpu_percent"], r["throughput_rps"]),
                r["rss_mib"],
                r.get("machine", {}).get("other_cpu_percent"),
                ", ".join(f"{x:,.0f}" for x in r.get("rounds_rps", [])),
            ]
            for n, r in part["runs"].items()
        ]
        ratios = part["ratios"]
        lines += [
            "",
            f"Forwarding `/query/user` at c={next(iter(part['runs'].values()))['concurrency']}, "
            f"{title}:",
            "",
            *_table(
                [
                    "forwarder",
                    "req/s (best round)",
                    "p50 ms",
                    "p99 ms",
                    "errors",
                    "CPU %",
                    "CPU µs/req",
                    "RSS MiB",
                    "other %",
                    "every round, req/s",
                ],
                rows,
            ),
            "",
            f"ECS handler / floor {_fmt(ratios['ecs_over_floor'], 2)}x, "
            f"httpx / aiohttp {_fmt(ratios['httpx_over_aiohttp'], 2)}x, "
            f"pooled / naive {_fmt(ratios['pooled_over_naive'], 2)}x, "
            f"ECS handler / naive {_fmt(ratios['ecs_over_naive'], 2)}x.",
        ]
    return lines


def scale_section(scale: Mapping[str, Any]) -> list[str]:
    rows = []
    for step in scale["steps"]:
        rows.append(
            [
                step["records"],
                step["load_s"],
                step["user"]["chain"]["p50_ms"],
                step["user"]["dynamodb"]["p50_ms"],
                step["user"]["items"],
                step["fail"]["chain"]["p50_ms"],
                step["fail"]["dynamodb"]["p50_ms"],
                step["fail"]["items"],
            ]
        )
    ratios, direct = scale["ratios"], scale["ratios_dynamodb"]
    return [
        f"Read table grown by batch writes; `/query/user` for `{scale['hot_user']}` (a tenth "
        f"of the records), `/query/fail` for `{scale['hot_campaign']}` (a tenth of the "
        "deliveries, few failed); one request at a time through the chain, and the same "
        "DynamoDB Query from boto3.",
        "",
        *_table(
            [
                "records",
                "load s",
                "user p50 ms (chain)",
                "user p50 ms (DynamoDB)",
                "items",
                "fail p50 ms (chain)",
                "fail p50 ms (DynamoDB)",
                "items",
            ],
            rows,
        ),
        "",
        f"Largest / smallest p50 through the chain: user {_fmt(ratios['user'], 2)}x, "
        f"fail {_fmt(ratios['fail'], 2)}x; DynamoDB alone: user "
        f"{_fmt(direct['user'], 2)}x, fail {_fmt(direct['fail'], 2)}x.",
    ]


def cold_start_section(cold: Mapping[str, Any]) -> list[str]:
    rows = []
    for module, ms in cold["import_ms"].items():
        heavy = ", ".join(
            f"{h['module']} {h['cumulative_ms']:.0f}" for h in cold["heaviest_imports"][module][:4]
        )
        size = cold.get("zips", {}).get(module, {}).get("mib")
        rows.append([f"query_service.lambdas.{module}", ms, size, heavy])
    lines = _table(["module", "import ms", "zip MiB", "heaviest imports (ms, cumulative)"], rows)
    if "error" in cold.get("zips", {}):
        lines += ["", f"`make package` failed: {cold['zips']['error']}"]
    return lines


def profile_section(profile: Mapping[str, Any]) -> list[str]:
    titles = {
        "ecs": "the ECS handler forwarding to the stub upstream at c=10",
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


def cpu_us_per_request(cpu_percent: float | None, rps: float | None) -> float | None:
    """CPU time one request cost a process, in µs: steadier than throughput when other
    work crowds the machine, since waiting for a core costs no CPU."""
    if cpu_percent is None or not rps:
        return None
    return round(cpu_percent / 100 * 1e6 / rps)


def comparison_section(results: Mapping[str, Any], before: Mapping[str, Any]) -> list[str]:
    """Before/after: this run's figures beside those of ``before`` (bench/before.json)."""
    rows: list[list[Any]] = []

    def forwarder(doc: Mapping[str, Any], upstream: str, name: str) -> Mapping[str, Any]:
        found: Mapping[str, Any] = doc.get("floor", {}).get(upstream, {}).get("runs", {})
        run: Mapping[str, Any] = found.get(name, {})
        return run

    def tier_cost(doc: Mapping[str, Any], path: str, tier: str) -> float | None:
        run = next(
            (
                r
                for r in doc.get("chain", {}).get("runs", [])
                if r["path"] == path and r["concurrency"] == 50
            ),
            None,
        )
        if run is None or tier not in run["tiers"]:
            return None
        return cpu_us_per_request(run["tiers"][tier]["cpu_percent"], run["throughput_rps"])

    for path in ("/query/user", "/query/fail"):
        for c, key in ((10, "p99_ms"), (50, "throughput_rps"), (50, "p50_ms")):
            rows.append(
                [
                    f"chain {path} c={c} {key}",
                    _chain_run(before, path, c).get(key),
                    _chain_run(results, path, c).get(key),
                ]
            )
        for tier in ("public", "ecs", "internal"):
            rows.append(
                [
                    f"chain {path} c=50: {tier} tier CPU µs per request",
                    tier_cost(before, path, tier),
                    tier_cost(results, path, tier),
                ]
            )
    for upstream in ("internal_upstream", "stub_upstream"):
        label = upstream.split("_")[0]
        for name in ("ecs_handler", "floor_aiohttp"):
            was, now = forwarder(before, upstream, name), forwarder(results, upstream, name)
            rows.append(
                [f"{name} req/s ({label})", was.get("throughput_rps"), now.get("throughput_rps")]
            )
        was, now = (
            forwarder(before, upstream, "ecs_handler"),
            forwarder(results, upstream, "ecs_handler"),
        )
        rows.append(
            [
                f"ECS handler CPU µs per request ({label})",
                cpu_us_per_request(was.get("cpu_percent"), was.get("throughput_rps")),
                cpu_us_per_request(now.get("cpu_percent"), now.get("throughput_rps")),
            ]
        )
        rows.append(
            [
                f"ECS handler / floor ({label})",
                _fmt(
                    before.get("floor", {})
                    .get(upstream, {})
                    .get("ratios", {})
                    .get("ecs_over_floor"),
                    2,
                ),
                _fmt(results["floor"][upstream]["ratios"]["ecs_over_floor"], 2),
            ]
        )
    rows.append(
        [
            "ECS handler RSS MiB after the chain",
            before.get("chain", {}).get("ecs_rss_mib_after"),
            results["chain"]["ecs_rss_mib_after"],
        ]
    )
    return [
        f"Before: the run of {before.get('timestamp', '?')} (`bench/before.json`, taken before "
        "the fixes); after: this run. Two runs are minutes apart on a shared machine, so "
        "throughput and latency move with whatever else ran; CPU per request moves much "
        "less (waiting for a core costs none). The before run measured each forwarder once "
        "for 6 s; later runs keep the best of three 3 s rounds.",
        "",
        *_table(["figure", "before", "after"], rows),
    ]


def render_markdown(
    results: Mapping[str, Any], before: Mapping[str, Any] | None, plots: list[str]
) -> str:
    m = results["machine"]
    lines = [
        f"# Benchmark results {results['timestamp']}",
        "",
        f"`make bench` on {m['cpus']} cores, Python {m['python']}, DynamoDB engine "
        f"{results.get('engine', '?')}; load average at start {m['load_avg_at_start']}, at "
        f"end {m.get('load_avg_at_end', '?')} (other work on this machine shares its cores); "
        f"wall time {results['wall_s']} s. Absolute times drift on a shared machine: the "
        "ratios compare figures taken side by side in this one run.",
        "",
        "## Targets",
        "",
        *targets_section(results),
        "",
        *(["Misses:", "", *misses, ""] if (misses := misses_section(results)) else []),
        "## Chain: client → public gateway → Query Lambda → ECS handler → internal gateway "
        "→ Query Result Lambda → DynamoDB Local",
        "",
        *chain_section(results["chain"]),
        "",
        *(
            ["### ab and wrk", "", *tools_section(results["tools"]), ""]
            if "tools" in results
            else []
        ),
        "## Floor and naive baseline",
        "",
        *floor_section(results["floor"]),
        "",
        "## Scale",
        "",
        *scale_section(results["scale"]),
        "",
        "## Cold start",
        "",
        *cold_start_section(results["cold_start"]),
        "",
        "## Profile",
        "",
        *profile_section(results["profile"]),
        "",
    ]
    if before is not None:
        lines += ["## Before and after the fixes", "", *comparison_section(results, before), ""]
    if plots:
        lines += ["## Plots", "", *(f"![{p}]({p})" for p in plots), ""]
    return "\n".join(lines)


def render_plots(results: Mapping[str, Any], out: Path, stamp: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
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
    paths.append(_save(fig, out / f"{stamp}-latency-cdf.png"))

    fig, (ax, bars) = plt.subplots(1, 2, figsize=(11, 4.5))
    for path in ("/query/user", "/query/fail"):
        runs = [r for r in results["chain"]["runs"] if r["path"] == path]
        ax.plot(
            [r["concurrency"] for r in runs],
            [r["throughput_rps"] for r in runs],
            marker="o",
            label=f"chain {path}",
        )
    _label(ax, "concurrency (requests in flight)", "requests per second", "The chain")
    names = list(results["floor"]["internal_upstream"]["runs"])
    width = 0.38
    for offset, upstream in ((-width / 2, "internal_upstream"), (width / 2, "stub_upstream")):
        runs = results["floor"][upstream]["runs"]
        bars.bar(
            [i + offset for i in range(len(names))],
            [runs[n]["throughput_rps"] for n in names],
            width,
            label=f"upstream: {upstream.split('_')[0]}",
        )
    bars.set_xticks(range(len(names)), [n.replace("_", "\n", 1) for n in names], fontsize=8)
    bars.set_ylabel("requests per second")
    concurrency = next(iter(results["floor"]["stub_upstream"]["runs"].values()))["concurrency"]
    bars.set_title(f"Forwarders at c={concurrency}")
    bars.grid(True, axis="y", alpha=0.3)
    bars.legend(fontsize=8)
    paths.append(_save(fig, out / f"{stamp}-throughput.png"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    steps = results["scale"]["steps"]
    sizes = [s["records"] for s in steps]
    for name, color in (("user", "tab:blue"), ("fail", "tab:orange")):
        ax.plot(
            sizes,
            [s[name]["chain"]["p50_ms"] for s in steps],
            marker="o",
            color=color,
            label=f"/query/{name} through the chain",
        )
        ax.plot(
            sizes,
            [s[name]["dynamodb"]["p50_ms"] for s in steps],
            marker="x",
            linestyle="--",
            color=color,
            label=f"/query/{name}: DynamoDB alone",
        )
    _label(
        ax,
        "records in the read table (bench's own, log scale)",
        "p50 latency (ms)",
        "Query latency against table size",
    )
    paths.append(_save(fig, out / f"{stamp}-scale.png"))
    return paths


def _label(ax: Any, x: str, y: str, title: str) -> None:
    """Log x axis from the data, linear y axis from zero, grid and legend."""
    ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path

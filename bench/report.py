"""The result document as a markdown summary and PNG plots, section by section."""

from __future__ import annotations

from pathlib import Path

from bench.markdown import fmt, table, verdict
from bench.section import Results
from bench.sections import SECTIONS, evaluate_targets


def targets_section(results: Results) -> list[str]:
    rows = []
    for target in evaluate_targets(results):
        sign = "≥" if target.higher_is_better else ("≤" if target.unit == "x" else "<")
        limit = f"{sign} {fmt(target.limit, 2 if target.unit == 'x' else 0)} {target.unit}"
        measured = fmt(target.measured, 2 if target.unit == "x" else 1)
        rows.append([target.name, measured, limit, verdict(target.met)])
    return table(["target", "measured", "limit", "verdict"], rows)


def misses_section(results: Results) -> list[str]:
    """Each missed target with what this run's own figures say of its cause."""
    notes = []
    for section in SECTIONS:
        for target in section.targets(results):
            if target.met is not False:
                continue
            why = section.explain(target, results)
            why = why or f"measured {target.measured} {target.unit}."
            notes.append(f"- **{target.name}**: {why}")
    return notes


def comparison_section(results: Results, before: Results) -> list[str]:
    """Before/after: this run's figures beside those of ``before`` (bench/before.json)."""
    rows = [row for section in SECTIONS for row in section.compare(results, before)]
    return [
        f"Before: the run of {before.get('timestamp', '?')} (`bench/before.json`, taken before "
        "the fixes); after: this run. Two runs are minutes apart on a shared machine, so "
        "throughput and latency move with whatever else ran; CPU per request moves much "
        "less (waiting for a core costs none). The before run measured each forwarder once "
        "for 6 s; later runs keep the best of three 3 s rounds.",
        "",
        *table(["figure", "before", "after"], rows),
    ]


def render_markdown(results: Results, before: Results | None, plots: list[str]) -> str:
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
    ]
    for section in SECTIONS:
        if section.key in results:
            lines += [section.heading, "", *section.render(results[section.key]), ""]
    if before is not None:
        lines += ["## Before and after the fixes", "", *comparison_section(results, before), ""]
    if plots:
        lines += ["## Plots", "", *(f"![{p}]({p})" for p in plots), ""]
    return "\n".join(lines)


def render_plots(results: Results, out: Path, stamp: str) -> list[Path]:
    """The plots of the sections the run measured (``--sections`` may have left some out)."""
    return [
        path
        for section in SECTIONS
        if section.key in results
        for path in section.plots(results, out, stamp)
    ]

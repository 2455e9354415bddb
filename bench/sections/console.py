"""The support console's pages: server time with 100 records, and page weight.

Each page is asked for one request at a time, as a person loads it, from the local
stack's ECS handler, whose data path is the real one (internal API, Query Result Lambda,
DynamoDB Local). The section writes its own deliveries first: one user with 100 and one
transaction with 100, through command-records and the stream, as the push sender would.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from bench.markdown import table
from bench.section import Bench, Results, Section
from bench.stats import Target, percentile
from query_service.local.commands import batch_put, wait_until_projected

RECORDS = 100
USER = "bench_console_user"
TRANSACTION = "bench_console_tx"
SERVER_TIME_LIMIT_MS = 300
PAGE_WEIGHT_LIMIT_KB = 150
ASSET_RE = re.compile(r'(?:href|src)="(/console/static/[^"]+)"')
RENDER_RE = re.compile(r"render;dur=([\d.]+)")


def _deliveries(now_ms: int) -> list[dict[str, Any]]:
    """100 deliveries to USER (one per transaction), 100 of TRANSACTION (one per user)."""
    statuses = ("DELIVERED", "DELIVERED", "SENT", "FAILED")
    platforms = ("IOS", "ANDROID", "WEBPUSH")
    records = []
    for i in range(RECORDS):
        for tx, user in (
            (f"bench_console_tx_{i:03d}", USER),
            (TRANSACTION, f"bench_console_u_{i:03d}"),
        ):
            status = statuses[i % 4]
            records.append(
                {
                    "transaction_id": tx,
                    "user_id": user,
                    "created_at": now_ms - i * 60_000,
                    "updated_at": now_ms - i * 60_000 + 500,
                    "status": status,
                    "platform": platforms[i % 3],
                    "notification_title": f"Benchmark notification number {i} with a longer title",
                    "ap_id": "mobile-app-001",
                    "error_msg": "Device token invalid" if status == "FAILED" else None,
                    "device_token": f"token-{i}",
                    "payload": "{}",
                }
            )
    return [{k: v for k, v in r.items() if v is not None} for r in records]


# page → (path, the status it must answer: a search that finds one id redirects to it)
PAGES = {
    "search": (f"/console/search?q={USER}", 303),
    "user (100 records)": (f"/console/users/{USER}?limit=100", 200),
    "user, filtered": (f"/console/users/{USER}?limit=100&status=FAILED&platform=IOS", 200),
    "transaction (100 records)": (f"/console/transactions/{TRANSACTION}?limit=100", 200),
    "delivery": (f"/console/deliveries/{TRANSACTION}/bench_console_u_003", 200),
}


def measure(bench: Bench) -> dict[str, Any]:
    stack, plan = bench.stack, bench.plan
    written = _deliveries(int(time.time() * 1000))
    batch_put(stack.client, "command-records", written)
    wait_until_projected(stack.client, stack.table, written, timeout=120)
    base = stack.urls["ecs"]
    repeats = plan.console_requests
    pages: dict[str, Any] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for name, (path, expected) in PAGES.items():
            for _ in range(3):  # warm: templates compiled, pool open, key cached
                client.get(path)
            times, renders, statuses = [], [], set()
            for _ in range(repeats):
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                statuses.add(response.status_code)
                timing = RENDER_RE.search(response.headers.get("server-timing", ""))
                renders.append(float(timing.group(1)) if timing else 0.0)
            final = client.get(path, follow_redirects=True)
            assets = sorted(set(ASSET_RE.findall(final.text)))
            asset_bytes = sum(len(client.get(a).content) for a in assets)
            rows = final.text.count('<tr class="row--')
            pages[name] = {
                "path": path,
                "statuses": sorted(statuses),
                "as_expected": statuses == {expected},
                "requests": repeats,
                "p50_ms": percentile(times, 50),
                "p95_ms": percentile(times, 95),
                "max_ms": max(times),
                "render_p50_ms": percentile(renders, 50),
                "rows": rows,
                "html_bytes": len(final.content),
                "asset_bytes": asset_bytes,
                "weight_kb": (len(final.content) + asset_bytes) / 1024,
            }
            bench.say(f"console {name}: p95 {pages[name]['p95_ms']:.1f} ms, {rows} rows")
    return {"pages": pages}


def render(console: Results) -> list[str]:
    rows = [
        [
            name,
            f"`{page['path']}`",
            ", ".join(str(s) for s in page["statuses"]),
            page["rows"],
            page["p50_ms"],
            page["p95_ms"],
            page["render_p50_ms"],
            page["html_bytes"] / 1024,
            page["weight_kb"],
        ]
        for name, page in console["pages"].items()
    ]
    return [
        "One request at a time from a client on the same machine to the local stack's ECS "
        "handler (its upstream is the real local chain: internal API, Query Result Lambda, "
        "DynamoDB Local), after three warm-up requests. *Weight* is the page's HTML plus every "
        "asset it loads (stylesheet, script, icon), uncompressed; *template* is the part of "
        "the server time spent rendering the page (its Server-Timing header).",
        "",
        *table(
            [
                "page",
                "path",
                "status",
                "rows",
                "p50 ms",
                "p95 ms",
                "template p50 ms",
                "HTML KB",
                "weight KB",
            ],
            rows,
        ),
    ]


def targets(results: Results) -> list[Target]:
    pages = results.get("console", {}).get("pages", {})
    p95s = [p["p95_ms"] for p in pages.values()]
    weights = [p["weight_kb"] for p in pages.values()]
    # A page that answered anything but its own status was not measured.
    full = len(pages) == len(PAGES) and all(p["as_expected"] for p in pages.values())
    return [
        Target(
            "console page server time p95, 100 records (worst page)",
            max(p95s) if full else None,
            SERVER_TIME_LIMIT_MS,
            "ms",
        ),
        Target(
            "console page weight, HTML + assets (heaviest page)",
            max(weights) if full else None,
            PAGE_WEIGHT_LIMIT_KB,
            "KB",
        ),
    ]


SECTION = Section(
    key="console",
    heading="## Support console pages",
    measure=measure,
    render=render,
    targets=targets,
)

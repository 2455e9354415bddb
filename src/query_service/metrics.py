"""CloudWatch metrics from the Lambdas, as Embedded Metric Format lines on stdout.

The line is the one Powertools' ``EphemeralMetrics`` flushes (the same keys in the same
order, every value a float in a list, the route and service dimensions, the request id as
metadata), written here in one ``orjson`` pass and one write: Powertools' validation and
``json.dumps`` of a line were about a sixth of the Query Result Lambda's own CPU per
request, and its ``print`` writes the line and its newline apart, which threads running one
function at once (the local gateway) could interleave. One line per invocation, never a
shared metric set: two invocations' figures cannot mix.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping

import orjson
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

NAMESPACE = "QueryService"
_DIMENSIONS = [["route", "service"]]


def emf_line(
    service: str,
    route: str,
    *,
    latency_ms: float,
    counts: Mapping[str, int],
    request_id: str | None = None,
    timestamp_ms: int | None = None,
) -> bytes:
    """The EMF line of one invocation: Latency (milliseconds) and the given counts."""
    names = [{"Name": "Latency", "Unit": "Milliseconds"}]
    names.extend({"Name": name, "Unit": "Count"} for name in counts)
    stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    line: dict[str, object] = {
        "_aws": {
            "Timestamp": stamp,
            "CloudWatchMetrics": [
                {"Namespace": NAMESPACE, "Dimensions": _DIMENSIONS, "Metrics": names}
            ],
        },
        "route": route,
        "service": service,
    }
    if request_id:
        line["request_id"] = request_id
    line["Latency"] = [float(round(latency_ms, 3))]
    for name, value in counts.items():
        line[name] = [float(value)]
    return orjson.dumps(line)


def publish(
    service: str,
    route: str,
    *,
    latency_ms: float,
    counts: Mapping[str, int],
    request_id: str | None = None,
) -> None:
    """One EMF line on stdout, unless POWERTOOLS_METRICS_DISABLED (or POWERTOOLS_DEV
    alone) turns metrics off, as it does Powertools'."""
    if is_metrics_disabled():
        return
    line = emf_line(service, route, latency_ms=latency_ms, counts=counts, request_id=request_id)
    sys.stdout.write(line.decode() + "\n")


def status_counts(status: int) -> dict[str, int]:
    return {"Errors": int(status >= 500), "ClientErrors": int(400 <= status < 500)}

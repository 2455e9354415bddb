"""CloudWatch metrics from the Lambdas, as Embedded Metric Format lines on stdout.

One ``EphemeralMetrics`` per invocation rather than Powertools' shared ``Metrics``: the
local gateway runs a Lambda in many threads at once, and a shared metric set flushed by one
invocation while another adds to it would mix or lose their figures.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

NAMESPACE = "QueryService"


def publish(
    service: str,
    route: str,
    *,
    latency_ms: float,
    counts: dict[str, int],
    request_id: str | None = None,
) -> None:
    """One EMF line: Latency and the given counts, by service and route."""
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=service)
    metrics.add_dimension(name="route", value=route)
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=round(latency_ms, 3))
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if request_id:
        metrics.add_metadata(key="request_id", value=request_id)
    metrics.flush_metrics()


def status_counts(status: int) -> dict[str, int]:
    return {"Errors": int(status >= 500), "ClientErrors": int(400 <= status < 500)}

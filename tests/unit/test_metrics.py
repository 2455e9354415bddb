"""The EMF line is the one Powertools' metrics would flush, byte for byte but the time."""

from __future__ import annotations

import orjson
import pytest
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from query_service.metrics import NAMESPACE, emf_line, publish, status_counts


def _powertools_line(
    capsys: pytest.CaptureFixture[str],
    service: str,
    route: str,
    latency_ms: float,
    counts: dict[str, int],
    request_id: str | None,
) -> str:
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=service)
    metrics.add_dimension(name="route", value=route)
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=round(latency_ms, 3))
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if request_id:
        metrics.add_metadata(key="request_id", value=request_id)
    capsys.readouterr()
    metrics.flush_metrics()
    [line] = capsys.readouterr().out.splitlines()
    return line


@pytest.mark.parametrize(
    ("counts", "request_id"),
    [
        ({}, None),
        (status_counts(200), "req-1"),
        (status_counts(503) | {"ItemsReturned": 7}, "support-ticket-4711"),
    ],
)
def test_the_line_is_powertools_own(
    capsys: pytest.CaptureFixture[str], counts: dict[str, int], request_id: str | None
) -> None:
    expected = _powertools_line(capsys, "query-result", "/query/user", 12.34567, counts, request_id)
    stamp = orjson.loads(expected)["_aws"]["Timestamp"]
    ours = emf_line(
        "query-result",
        "/query/user",
        latency_ms=12.34567,
        counts=counts,
        request_id=request_id,
        timestamp_ms=stamp,
    )
    assert ours.decode() == expected


def test_publish_writes_one_line_unless_metrics_are_disabled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    capsys.readouterr()
    publish("query-entry", "/query/fail", latency_ms=1.5, counts={"Errors": 1})
    [line] = capsys.readouterr().out.splitlines()
    assert orjson.loads(line)["Errors"] == [1.0]
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    publish("query-entry", "/query/fail", latency_ms=1.5, counts={"Errors": 1})
    assert capsys.readouterr().out == ""

"""What every benchmark section shares: the plan, the run it measures in, its shape.

A section is one module of ``bench.sections`` that measures one thing and renders it:
``measure`` returns a JSON-ready dict (stored under the section's key), ``render`` turns
that dict back into the summary's markdown, and the optional hooks name its targets,
explain a missed one, add rows to the before/after table and draw its plots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.load import LoadResult
from bench.stats import Target, summarise

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REPO = Path(__file__).resolve().parents[1]
USER_BODY = b'{"user_id":"test_user_001","limit":10}'  # the brief's example call
FAIL_BODY = b'{"transaction_id":"tx_002"}'
DELIVERY_BODY = b'{"transaction_id":"tx_002","user_id":"test_user_001"}'  # with its timeline
BODIES = {"/query/user": USER_BODY, "/query/fail": FAIL_BODY, "/query/delivery": DELIVERY_BODY}
Say = Callable[[str], None]
Results = Mapping[str, Any]


@dataclass(frozen=True)
class Plan:
    """How much load each section sends; ``quick`` is a smoke run of the harness."""

    chain: tuple[tuple[int, int], ...] = ((1, 300), (10, 1000), (50, 10_000))
    # the chain's reads straight to DynamoDB Local first, so its JIT is not measured
    chain_dynamodb_warm_up: int = 10_000
    floor_seconds: float = 3.0
    floor_rounds: int = 3
    floor_concurrency: int = 50
    scale_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    scale_requests: int = 400
    dynamodb_queries: int = 300
    import_repeats: int = 7
    profile_seconds: float = 8.0
    profile_lambda_requests: int = 1000
    wrk_seconds: int = 10
    console_requests: int = 30
    # /query/stats of a transaction of each size; projection cost on 100 users x N
    stats_sizes: tuple[int, ...] = (100, 10_000)
    stats_requests: int = 300
    stats_projection_transactions: int = 20
    # the projection alone: 100 users x N transactions (about 8,200 stream records at 40), rounds
    # counted after one that warms DynamoDB Local up
    projection_transactions: int = 40
    projection_rounds: int = 2

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            chain=((1, 50), (10, 200), (50, 500)),
            chain_dynamodb_warm_up=200,
            floor_seconds=1.0,
            floor_rounds=2,
            scale_sizes=(1_000, 3_000),
            scale_requests=50,
            dynamodb_queries=50,
            import_repeats=1,
            profile_seconds=2.0,
            profile_lambda_requests=100,
            wrk_seconds=2,
            console_requests=5,
            stats_sizes=(100, 1_000),
            stats_requests=50,
            stats_projection_transactions=2,
            projection_transactions=2,
            projection_rounds=1,
        )


@dataclass(frozen=True)
class Stack:
    """The local stack a run started: each tier's URL and pid, a client of its DynamoDB."""

    urls: Mapping[str, str]
    pids: Mapping[str, int]
    client: DynamoDBClient
    table: str


@dataclass(frozen=True)
class Bench:
    """One ``make bench`` run as a section sees it; ``stack`` is set once the stack is up."""

    plan: Plan
    workdir: Path
    say: Say
    package: bool = True
    stack_: Stack | None = None
    ecs_before: Path | None = None  # the src folder of an earlier ECS handler, to compare

    @property
    def stack(self) -> Stack:
        if self.stack_ is None:
            raise RuntimeError("this section measures the local stack: start it first")
        return self.stack_


def _no_targets(results: Results) -> list[Target]:
    return []


def _no_explanation(target: Target, results: Results) -> str | None:
    return None


def _no_rows(results: Results, before: Results) -> list[list[Any]]:
    return []


def _no_plots(results: Results, out: Path, stamp: str) -> list[Path]:
    return []


@dataclass(frozen=True)
class Section:
    """One section: ``key`` in the result document, ``heading`` in the summary."""

    key: str
    heading: str
    measure: Callable[[Bench], dict[str, Any]]
    render: Callable[[Results], list[str]]
    targets: Callable[[Results], list[Target]] = _no_targets
    explain: Callable[[Target, Results], str | None] = _no_explanation
    compare: Callable[[Results, Results], list[list[Any]]] = _no_rows
    plots: Callable[[Results, Path, str], list[Path]] = _no_plots
    needs_stack: bool = True


def measured(result: LoadResult, **extra: Any) -> dict[str, Any]:
    """A load run's figures with what the section adds to them."""
    figures = summarise(result.latencies_ms, result.errors, result.elapsed_s)
    return {**extra, **figures, "statuses": dict(result.statuses)}

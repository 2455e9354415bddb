"""``query-service simulate``: push traffic written the way the push sender writes it.

Every transaction (a campaign) goes to every simulated user: first the deliveries
(status SENT), then their outcomes (DELIVERED, or FAILED with a reason, at
``failure_rate``), each a full put of the command record with a later ``updated_at``, so
the stream carries INSERTs and then MODIFYs. Identifiers carry a run id, so runs add to
each other instead of overwriting.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from query_service.local.commands import batch_put, wait_until_projected
from query_service.local.demo import ERRORS, SAMPLE_AP_IDS, TITLES
from query_service.local.progress import progress_bar

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PLATFORMS = ("IOS", "ANDROID", "WEBPUSH")


@dataclass(frozen=True, slots=True)
class Plan:
    users: int
    transactions: int
    failure_rate: float
    seed: int | None = None
    run_id: str = ""

    def __post_init__(self) -> None:
        if self.users < 1 or self.transactions < 1:
            raise ValueError("users and transactions must be at least 1")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError("failure rate must be between 0 and 1")

    @property
    def deliveries(self) -> int:
        return self.users * self.transactions


def plan_records(plan: Plan, now_ms: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The deliveries (SENT) and their outcomes (DELIVERED or FAILED), same keys, in order."""
    rng = random.Random(plan.seed)  # noqa: S311 - simulated traffic, not security
    run = plan.run_id or uuid.uuid4().hex[:6]
    sent: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    start = now_ms - plan.deliveries  # one millisecond apart, the last one now
    for t in range(plan.transactions):
        tx = f"sim_{run}_tx_{t:05d}"
        ap_id = rng.choice(SAMPLE_AP_IDS)
        title = rng.choice(TITLES)
        for u in range(plan.users):
            user = f"sim_user_{u:05d}"
            platform = rng.choice(PLATFORMS)
            created = start + t * plan.users + u
            delivery = {
                "transaction_id": tx,
                "user_id": user,
                "created_at": created,
                "updated_at": created,
                "status": "SENT",
                "platform": platform,
                "notification_title": title,
                "ap_id": ap_id,
                "device_token": f"sim-token-{user}-{platform.lower()}",
                "payload": '{"title":"' + title + '"}',
            }
            sent.append(delivery)
            failed = rng.random() < plan.failure_rate
            outcome = dict(delivery, updated_at=created + rng.randrange(200, 30_000))
            outcome["status"] = "FAILED" if failed else "DELIVERED"
            if failed:
                outcome["error_msg"] = rng.choice(ERRORS)
            outcomes.append(outcome)
    return sent, outcomes


def simulate(
    client: DynamoDBClient,
    command_table: str,
    read_table: str,
    plan: Plan,
    *,
    wait: bool = True,
    timeout: float = 300.0,
    out: IO[str] = sys.stderr,
) -> None:
    sent, outcomes = plan_records(plan, int(time.time() * 1000))
    started = time.monotonic()
    with progress_bar(len(sent) + len(outcomes), "simulate", out) as advance:
        batch_put(client, command_table, sent, advance)
        batch_put(client, command_table, outcomes, advance)
    written = time.monotonic() - started
    failed = sum(1 for o in outcomes if o["status"] == "FAILED")
    out.write(
        f"wrote {len(sent):,} deliveries and {len(outcomes):,} status updates "
        f"({failed:,} FAILED) to {command_table} in {written:.1f} s\n"
    )
    if wait:
        out.write(f"waiting for {read_table} to show every outcome...\n")
        caught_up = wait_until_projected(client, read_table, outcomes, timeout=timeout)
        out.write(f"read side caught up {caught_up:.1f} s after the last write\n")
    out.flush()

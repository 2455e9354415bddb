"""``query-service simulate``: push traffic written the way the push sender writes it.

Every transaction (a campaign) goes to every simulated user: first the deliveries
(status SENT), then their outcomes (DELIVERED, or FAILED with a reason, at
``failure_rate``); a delivery that failed with a timeout is sent again and has a second
outcome. Each is a full put of the command record with a later ``updated_at``, so the
stream carries INSERTs and then MODIFYs, and the read side builds each delivery's
timeline. Identifiers carry a run id, so runs add to each other instead of overwriting.

At the end it prints the funnel it produced (deliveries by final status, failure reasons),
which ``/query/stats`` of its transactions adds up to once the read side has caught up.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any

from query_service.local.commands import batch_put, wait_until_projected
from query_service.local.demo import ERRORS, SAMPLE_AP_IDS, TITLES
from query_service.local.progress import progress_bar

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PLATFORMS = ("IOS", "ANDROID", "WEBPUSH")
# A failure the sender retries: the delivery is sent again, and has a second outcome.
RETRIED_ERROR = "Network timeout"


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


@dataclass(frozen=True, slots=True)
class Traffic:
    """What a plan writes, round by round; one write per delivery in each round."""

    run: str
    sent: list[dict[str, Any]]  # every delivery, SENT
    outcomes: list[dict[str, Any]]  # each one's outcome: DELIVERED, or FAILED with a reason
    resent: list[dict[str, Any]]  # the deliveries that timed out, sent again
    retried: list[dict[str, Any]]  # the outcome of each of those

    @property
    def rounds(self) -> list[list[dict[str, Any]]]:
        return [self.sent, self.outcomes, self.resent, self.retried]

    def finals(self) -> list[dict[str, Any]]:
        """Each delivery's last write: what the read side shows once it has caught up."""
        last = {(o["transaction_id"], o["user_id"]): o for o in self.outcomes + self.retried}
        return list(last.values())


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a run wrote: its funnel (final statuses, failure reasons) and how long it took."""

    run: str
    transactions: int
    by_status: Counter[str]
    reasons: Counter[str]
    write_seconds: float
    catch_up_seconds: float | None = None  # None: not waited for

    @property
    def deliveries(self) -> int:
        return sum(self.by_status.values())

    @property
    def failed(self) -> int:
        return self.by_status["FAILED"]

    def funnel(self) -> str:
        statuses = ", ".join(f"{s} {self.by_status[s]:,}" for s in ("SENT", "DELIVERED", "FAILED"))
        reasons = "; ".join(f"{r} {n:,}" for r, n in self.reasons.most_common()) or "none"
        return (
            f"funnel of run {self.run} ({self.transactions} transactions): "
            f"{self.deliveries:,} deliveries: {statuses}; failure reasons: {reasons}"
        )


def _outcome(
    rng: random.Random, delivery: dict[str, Any], after: int, failure_rate: float
) -> dict[str, Any]:
    outcome = dict(delivery, updated_at=after + rng.randrange(200, 30_000))
    outcome.pop("error_msg", None)
    if rng.random() < failure_rate:
        outcome["status"] = "FAILED"
        outcome["error_msg"] = rng.choice(ERRORS)
    else:
        outcome["status"] = "DELIVERED"
    return outcome


def plan_records(plan: Plan, now_ms: int) -> Traffic:
    """The deliveries (SENT), their outcomes, and the retries of those that timed out."""
    rng = random.Random(plan.seed)  # noqa: S311 - simulated traffic, not security
    run = plan.run_id or uuid.uuid4().hex[:6]
    traffic = Traffic(run, [], [], [], [])
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
            traffic.sent.append(delivery)
            outcome = _outcome(rng, delivery, created, plan.failure_rate)
            traffic.outcomes.append(outcome)
            if outcome.get("error_msg") == RETRIED_ERROR:
                again = dict(delivery, updated_at=outcome["updated_at"] + rng.randrange(1000, 5000))
                traffic.resent.append(again)
                traffic.retried.append(_outcome(rng, again, again["updated_at"], plan.failure_rate))
    return traffic


def simulate(
    client: DynamoDBClient,
    command_table: str,
    read_table: str,
    plan: Plan,
    *,
    wait: bool = True,
    timeout: float = 300.0,
    out: IO[str] = sys.stderr,
) -> Outcome:
    traffic = plan_records(plan, int(time.time() * 1000))
    started = time.monotonic()
    with progress_bar(sum(len(r) for r in traffic.rounds), "simulate", out) as advance:
        for round_ in traffic.rounds:
            batch_put(client, command_table, round_, advance)
    finals = traffic.finals()
    outcome = Outcome(
        traffic.run,
        plan.transactions,
        Counter(str(o["status"]) for o in finals),
        Counter(str(o["error_msg"]) for o in finals if o["status"] == "FAILED"),
        write_seconds=time.monotonic() - started,
    )
    out.write(
        f"wrote {len(traffic.sent):,} deliveries and {len(traffic.outcomes):,} status updates "
        f"({outcome.failed:,} FAILED), {len(traffic.resent):,} retried after a timeout "
        f"({2 * len(traffic.resent):,} more updates), to {command_table} in "
        f"{outcome.write_seconds:.1f} s\n"
    )
    if wait:
        out.write(f"waiting for {read_table} to show every outcome...\n")
        caught_up = wait_until_projected(client, read_table, finals, timeout=timeout)
        outcome = replace(outcome, catch_up_seconds=caught_up)
        out.write(f"read side caught up {outcome.catch_up_seconds:.1f} s after the last write\n")
    out.write(
        f"{outcome.funnel()}\n"
        f"each transaction's own: /query/stats?transaction_id=sim_{traffic.run}_tx_00000 "
        f"to sim_{traffic.run}_tx_{plan.transactions - 1:05d}\n"
    )
    out.flush()
    return outcome

"""The read side equals the projection of the command table, after a long random run.

Thousands of operations on a few hundred deliveries of ``command-records`` (on the session's
DynamoDB Local), as a push sender, an erasure job and the TTL sweep make them: writes, stale
writes (an older ``updated_at`` than the delivery already has), deletes, re-creations (with
the same ``created_at`` or a new one). Meanwhile the stream tier runs as its own process and
is killed with SIGKILL twice; the second time its checkpoint is wound back too, so thousands
of changes it had applied are delivered again (replays), REMOVEs included, after their
deliveries were written again.

The statistics the stream tier keeps must then be exactly the counts of the read table:
no replay counted twice, no delete or status change lost (issue 14's restart fault).

At the end, record by record, the read table must hold exactly what the model says: for each
delivery still in the command table, its newest version and every status of its current
life (since its last delete) in the timeline; nothing for a deleted one.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from query_service.domain.timeline import Event, Timeline
from query_service.local.dynamodb import ensure_tables
from query_service.local.stream_state import checkpoint_path
from query_service.storage.dynamo import to_item
from query_service.storage.projection import DEFAULT_RETENTION_DAYS, project_record
from tests.e2e.conftest import Stack, scan, start_poller
from tests.statistics_truth import stored, truth

pytestmark = [pytest.mark.e2e, pytest.mark.cost(110)]

COMMANDS = "random-run-command-records"
READS = "random-run-notification-records"
STATS = "random-run-delivery-stats"
DELIVERIES = 200
OPERATIONS = 5_000
WRITERS = 4
# Seconds between a writer's batches: the run lasts long enough (about 20 s) for the
# poller to be killed in the middle of it, twice.
PACE = 0.3
STATUSES = ("SENT", "DELIVERED", "FAILED")
REASONS = ("Device token invalid", "Network timeout", "Payload too large")


@dataclass
class Delivery:
    """One delivery's key and the model of it: the versions of its current life."""

    transaction_id: str
    user_id: str
    created_at: int = 0
    versions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> dict[str, Any]:
        return {"transaction_id": self.transaction_id, "user_id": self.user_id}

    def expected(self) -> dict[str, Any] | None:
        """The read item the projection owes this delivery (ARCHITECTURE §5)."""
        if not self.versions:
            return None
        newest = self.versions[0]
        for version in self.versions[1:]:
            if version["updated_at"] >= newest["updated_at"]:  # a tie: the later write
                newest = version
        timeline = Timeline().merge(Event.of(v) for v in self.versions)
        return project_record(newest, DEFAULT_RETENTION_DAYS, timeline)


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str) -> None:
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def operate(delivery: Delivery, rng: random.Random, *, hot: bool) -> tuple[str, dict[str, Any]]:
    """One random operation on ``delivery`` (the model follows it): a put or a delete of the
    command table, and its kind. A hot delivery is never deleted: its timeline outgrows
    the 50 events kept."""
    live = bool(delivery.versions)
    roll = rng.random()
    if live and roll < 0.08 and not hot:
        delivery.versions = []
        return "delete", {"DeleteRequest": {"Key": to_item(delivery.key)}}
    kind = "write"
    if not live:
        kind = "re-create" if delivery.created_at else "create"
        if kind == "create" or rng.random() < 0.5:  # else re-created at the same created_at
            delivery.created_at = int(time.time() * 1000) - rng.randrange(0, 10**6)
        newest = delivery.created_at
    else:
        newest = max(v["updated_at"] for v in delivery.versions)
    if live and roll < 0.3:
        kind = "stale write"
        at = rng.randrange(delivery.created_at, newest + 1)  # at most the newest's time
    else:
        at = newest + rng.randrange(1, 5_000)
    status = rng.choice(STATUSES)
    image = {
        **delivery.key,
        "created_at": delivery.created_at,
        "updated_at": at,
        "status": status,
        "platform": rng.choice(("IOS", "ANDROID", "WEBPUSH")),
        "notification_title": f"title {rng.randrange(3)}",
        "ap_id": "mobile-app-001",
        "device_token": "secret-device-token",
        "payload": '{"aps":{}}',
    }
    if status == "FAILED":
        image["error_msg"] = rng.choice(REASONS)
    delivery.versions.append(image)
    return kind, {"PutRequest": {"Item": to_item(image)}}


def writer(deliveries: list[Delivery], seed: int, operations: int, tally: Tally) -> None:
    """Operations on its own deliveries, a batch write at a time with each delivery at most
    once in a batch (so each one's operations reach the stream in order). A few deliveries
    are hot."""
    client = boto3.client("dynamodb", endpoint_url=os.environ["RANDOM_RUN_ENDPOINT"])
    rng = random.Random(seed)
    weights = [25 if i < 2 else 1 for i in range(len(deliveries))]
    batch: dict[int, tuple[str, dict[str, Any]]] = {}

    def flush() -> None:
        requests = [request for _, request in batch.values()]
        while requests:
            answer = client.batch_write_item(RequestItems={COMMANDS: requests})
            requests = answer.get("UnprocessedItems", {}).get(COMMANDS, [])
        for kind, _ in batch.values():
            tally.add(kind)
        batch.clear()

    for _ in range(operations):
        [i] = rng.choices(range(len(deliveries)), weights)
        if i in batch or len(batch) == 25:
            flush()
            time.sleep(PACE)
        batch[i] = operate(deliveries[i], rng, hot=i < 2)
    flush()


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """An item as stored: no attribute for a null (in the events either), no version (the
    projection's own bookkeeping, which the model does not know)."""
    values = {k: v for k, v in item.items() if v is not None and k != "version"}
    values["events"] = [{k: v for k, v in e.items() if v is not None} for e in item["events"]]
    return values


def read_side(client: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["transaction_id"], i["user_id"]): plain(i) for i in scan(client, READS)}


@pytest.fixture
def client(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("RANDOM_RUN_ENDPOINT", stack.dynamodb)
    ddb = boto3.client("dynamodb", endpoint_url=stack.dynamodb)
    ensure_tables(ddb, COMMANDS, READS, STATS)
    yield ddb
    for table in (COMMANDS, READS, STATS):
        ddb.delete_table(TableName=table)


@pytest.mark.timeout(420)  # about a minute on a quiet machine; the budget is for a busy one
def test_the_read_side_is_the_projection_of_the_command_table_after_a_random_run(
    stack: Stack, client: Any, tmp_path: Path
) -> None:
    started = time.monotonic()
    deliveries = [Delivery(f"tx_run_{i // 20:03d}", f"user_run_{i:04d}") for i in range(DELIVERIES)]
    state, log = tmp_path / "state", tmp_path / "poller.log"
    checkpoints = checkpoint_path(state, COMMANDS)
    tally = Tally()
    threads = [
        threading.Thread(
            target=writer, args=(deliveries[w::WRITERS], 1000 + w, OPERATIONS // WRITERS, tally)
        )
        for w in range(WRITERS)
    ]
    poller = start_poller(stack, COMMANDS, READS, state, log, STATS)
    for thread in threads:
        thread.start()
    kills = 0

    def delivered() -> int:
        return log.read_text().count('"batch delivered"')

    try:
        for rewind in (False, True):
            # Kill it once it has made progress since its start, while the writers write.
            progress = delivered() + 3
            while delivered() < progress or (rewind and not checkpoints.exists()):
                assert poller.poll() is None, log.read_text()[-2000:]
                time.sleep(0.05)
            assert any(t.is_alive() for t in threads), "the run ended before the kill"
            poller.send_signal(signal.SIGKILL)
            assert poller.wait(10) == -signal.SIGKILL
            kills += 1
            if rewind:  # everything since the stream began comes again
                checkpoints.unlink()
            poller = start_poller(stack, COMMANDS, READS, state, log, STATS)
        for thread in threads:
            thread.join(timeout=300)
        assert not any(t.is_alive() for t in threads), "the writers did not finish in 300 s"
        wanted = {
            (d.transaction_id, d.user_id): plain(item)
            for d in deliveries
            if (item := d.expected()) is not None
        }
        deadline = time.monotonic() + 240
        while (got := read_side(client)) != wanted and time.monotonic() < deadline:
            assert poller.poll() is None, log.read_text()[-2000:]
            time.sleep(1)
    finally:
        poller.terminate()
        poller.wait(10)

    commands = {(c["transaction_id"], c["user_id"]): c for c in scan(client, COMMANDS)}
    print(  # the figures for the record: pytest -s shows them
        f"\n{tally.total} operations {dict(sorted(tally.counts.items()))} on {DELIVERIES} "
        f"deliveries, poller killed {kills}x; {len(commands)} in the command table; "
        f"{time.monotonic() - started:.1f} s"
    )
    assert tally.total >= OPERATIONS and kills == 2
    assert min(tally.counts.get(k, 0) for k in ("stale write", "delete", "re-create")) > 100
    # the model is the command table: same deliveries, each one's last write is there
    assert set(commands) == set(wanted)
    for key, command in commands.items():
        delivery = next(d for d in deliveries if (d.transaction_id, d.user_id) == key)
        assert command == delivery.versions[-1]
    missing = set(wanted) - set(got)
    extra = set(got) - set(wanted)
    differing = [k for k in set(got) & set(wanted) if got[k] != wanted[k]]
    assert (missing, extra, differing) == (set(), set(), []), {
        k: (got[k], wanted[k]) for k in differing[:3]
    }
    # The statistics: exactly the counts of the read side, after the kills and the replays.
    counted = truth(scan(client, READS))
    assert counted[f"tx#{deliveries[0].transaction_id}", "n"] > 0
    assert stored(scan(client, STATS)) == counted
    assert any(item["events_truncated"] for item in got.values())
    assert any(len(item["events"]) > 1 for item in got.values())
    assert not (state / "dlq.jsonl").exists()

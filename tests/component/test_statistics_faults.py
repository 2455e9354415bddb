"""Statistics stay exact under the stream's faults (the Stream Processor on moto): the same
batch delivered three times, a batch that fails halfway and is retried, bisected retries.
After each, the counters equal the truth recomputed from the read table. (The poller
SIGKILLed and restarted, its checkpoint wound back, is tests/e2e/test_random_run.py.)"""

from __future__ import annotations

import random
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

from query_service.lambdas import stream_processor
from query_service.storage.dynamo import from_item
from query_service.storage.projection import Change, stream_version
from query_service.storage.projector import Projector, _is_conflict
from query_service.storage.tables import NOTIFICATION_TABLE, STATS_TABLE, TTL_ATTRIBUTE
from tests.component.conftest import KEPT_DAYS, Tables
from tests.component.test_stream_processor import change, run
from tests.statistics_truth import stored, truth, without_expiry
from tests.support import command

T0 = 1_700_000_000_000
REASONS = ("Device token invalid", "Network timeout")


def scan(tables: Tables, table: str) -> list[dict[str, Any]]:
    return [from_item(i) for i in tables.client.scan(TableName=table)["Items"]]


def stream(seed: int, deliveries: int = 12, changes: int = 40) -> list[dict[str, Any]]:
    """A random history of puts and removals of a few deliveries, as stream records: status
    changes, platform and application changes, failure reasons, deletes, re-creations."""
    rng = random.Random(seed)
    live: dict[str, dict[str, Any]] = {}
    records = []
    for seq in range(1, changes + 1):
        user = f"user_{rng.randrange(deliveries):03d}"
        old = live.get(user)
        if old is not None and rng.random() < 0.15:
            records.append(change("REMOVE", old=old, seq=seq))
            del live[user]
            continue
        status = rng.choice(("SENT", "DELIVERED", "FAILED"))
        new = command(
            transaction_id=f"tx_{int(user[-3:]) % 2}",
            user_id=user,
            created_at=T0 if old is None else old["created_at"],
            updated_at=(T0 if old is None else old["updated_at"]) + rng.randrange(1, 1000),
            status=status,
            platform=rng.choice(("IOS", "ANDROID", "WEBPUSH")),
            ap_id=rng.choice(("mobile-app-001", "web-app-002", None)),
            error_msg=rng.choice(REASONS) if status == "FAILED" else None,
        )
        records.append(change("MODIFY" if old else "INSERT", new=new, old=old, seq=seq))
        live[user] = new
    return records


def assert_exact(tables: Tables) -> None:
    counters = stored(scan(tables, STATS_TABLE))
    expected = truth(scan(tables, NOTIFICATION_TABLE))
    assert expected, "nothing was counted: the test would prove nothing"
    assert counters == expected


def test_the_same_batch_three_times_counts_once(tables: Tables) -> None:
    batch = stream(seed=1)
    assert run(*batch) == []
    assert_exact(tables)
    before = scan(tables, STATS_TABLE)
    for _ in range(2):
        assert run(*batch) == []
    after = scan(tables, STATS_TABLE)
    # The replays moved no count. They may write a counter again: a delivery the batch
    # creates and then removes is created and removed again (no tombstone is kept), a
    # net zero whose writes set the counter's expiry from the clock, never lower.
    assert without_expiry(after) == without_expiry(before)
    expiry = {i["pk"]: i[TTL_ATTRIBUTE] for i in before}
    assert all(i[TTL_ATTRIBUTE] >= expiry[i["pk"]] for i in after)
    assert_exact(tables)


def test_a_batch_failing_halfway_and_retried_counts_once(tables: Tables) -> None:
    batch = stream(seed=2)
    writes = {"n": 0}

    def fail_after_some(**_: Any) -> None:
        writes["n"] += 1
        if writes["n"] > 10:
            raise EndpointConnectionError(endpoint_url="http://dynamodb")

    hook = "before-call.dynamodb.TransactWriteItems"
    stream_processor._client().meta.events.register(hook, fail_after_some)
    failed = run(*batch)
    assert failed, "the fault did not land"
    assert len(failed) < len(batch), "nothing was written before the fault"
    stream_processor._client().meta.events.unregister(hook, fail_after_some)
    # Lambda retries from the first failed record on; replaying all of it covers that.
    assert run(*batch) == []
    assert_exact(tables)


def test_bisected_retries_count_once(tables: Tables) -> None:
    batch = stream(seed=3)
    half = len(batch) // 2
    assert run(*batch[:half]) == []
    assert run(*batch[half // 2 : half]) == []  # a half of it again
    assert run(*batch[half:]) == []
    assert run(*batch) == []
    assert_exact(tables)


def test_a_status_change_moves_one_delivery_and_a_removal_takes_it_out(tables: Tables) -> None:
    sent = command(status="SENT", ap_id="mobile-app-001", updated_at=T0)
    failed = sent | {"status": "FAILED", "error_msg": "Device token invalid", "updated_at": T0 + 9}
    assert run(change("INSERT", new=sent, seq=1)) == []
    assert run(change("MODIFY", new=failed, old=sent, seq=2)) == []
    counts = stored(scan(tables, STATS_TABLE))
    tx = "tx#" + str(sent["transaction_id"])
    assert counts[tx, "n"] == 1
    assert (counts[tx, "s#SENT"], counts[tx, "s#FAILED"]) == (0, 1)
    assert counts[tx, "e#Device token invalid"] == 1
    assert_exact(tables)
    assert run(change("REMOVE", old=failed, seq=3)) == []
    assert stored(scan(tables, STATS_TABLE)) == {}
    assert scan(tables, NOTIFICATION_TABLE) == []


def test_a_write_decided_from_a_stale_read_is_cancelled_and_decided_again(
    tables: Tables,
) -> None:
    """Another writer (a second poller) changed the item after this one read it: the
    transaction's condition fails, nothing is counted, and the change is decided again from
    the item as it is now."""
    projector = Projector(tables.client, NOTIFICATION_TABLE, KEPT_DAYS, STATS_TABLE)
    sent = command(status="SENT", ap_id="mobile-app-001", updated_at=T0)
    delivered = sent | {"status": "DELIVERED", "updated_at": T0 + 5}
    failed = sent | {"status": "FAILED", "error_msg": "Network timeout", "updated_at": T0 + 9}
    first = Change(stream_version("1"), sent, None)
    known: dict[Any, Any] = {}
    projector.apply(first, known)  # this one knows the item as SENT...
    other = Projector(tables.client, NOTIFICATION_TABLE, KEPT_DAYS, STATS_TABLE)
    other.apply(Change(stream_version("3"), failed, sent), {})  # ...another made it FAILED
    tables.calls.clear()
    step = projector.apply(Change(stream_version("4"), delivered, sent), known)
    # SENT → DELIVERED would move counts: a transaction, cancelled by its condition; the
    # item read again; FAILED is newer, so DELIVERED only joins the timeline: no count moves
    assert tables.calls == ["TransactWriteItems", "GetItem", "PutItem"]
    assert step.after is not None and step.after["status"] == "FAILED"
    assert [e["status"] for e in step.after["events"]] == ["SENT", "DELIVERED", "FAILED"]
    assert_exact(tables)


def test_what_cancelled_a_transaction_decides_whether_to_retry() -> None:
    def cancelled(*codes: str, in_message: bool = False) -> ClientError:
        response: dict[str, Any] = {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}
        }
        if in_message:  # DynamoDB Local's way
            response["Error"]["Message"] += f" [{', '.join(codes)}]"
        else:
            response["CancellationReasons"] = [{"Code": c} for c in codes]
        return ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]

    assert _is_conflict(cancelled("ConditionalCheckFailed", "None"))
    assert _is_conflict(cancelled("None", "TransactionConflict"))
    assert _is_conflict(cancelled("ConditionalCheckFailed", "None", in_message=True))
    assert not _is_conflict(cancelled("None", "ValidationError"))
    assert not _is_conflict(cancelled("ItemCollectionSizeLimitExceeded", "None"))
    throttled = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": ""}}
    assert not _is_conflict(ClientError(throttled, "TransactWriteItems"))  # type: ignore[arg-type]

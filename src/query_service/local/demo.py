"""Demo data: the brief's sample (MISSION.md) plus a few hundred generated deliveries.

The sample's deliveries are written the way the push sender reports them, SENT and then
the outcome, so the read side builds their timelines from the stream.

The sample makes the brief's example calls give meaningful answers; the generated part
gives paging, filters and the other queries something to walk through. Generation is
seeded, so two runs hold the same records (only the timestamps follow the clock).
"""

from __future__ import annotations

import itertools
import random
import time
from typing import TYPE_CHECKING, Any

from query_service.local.commands import batch_put

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MINUTE = 60_000
SAMPLE_USERS = ("test_user_001", "test_user_002", "test_user_003")
SAMPLE_AP_IDS = ("mobile-app-001", "mobile-app-002", "mobile-app-003", "web-portal-001")
TITLES = (
    "Your order has shipped",
    "Flash sale ends tonight",
    "New message from support",
    "Your weekly summary",
    "Security alert: new sign-in",
    "Payment received",
)
ERRORS = ("Device token invalid", "Network timeout", "Payload too large", "Unregistered device")


def _delivery(
    tx: str, user: str, at: int, status: str, platform: str, title: str, **extra: Any
) -> dict[str, Any]:
    record = {
        "transaction_id": tx,
        "user_id": user,
        "created_at": at,
        "updated_at": at + (MINUTE // 2 if status != "SENT" else 0),
        "status": status,
        "platform": platform,
        "notification_title": title,
        "device_token": f"token-{user}-{platform.lower()}",
        "payload": '{"aps":{"alert":"' + title + '"}}',
    }
    record.update({k: v for k, v in extra.items() if v is not None})
    return record


def _then(
    record: dict[str, Any], status: str, after_ms: int, error: str | None = None
) -> dict[str, Any]:
    """The same delivery ``after_ms`` after its creation, in ``status``."""
    later = dict(record, status=status, updated_at=record["created_at"] + after_ms)
    later.pop("error_msg", None)
    if error is not None:
        later["error_msg"] = error
    return later


def _sent(record: dict[str, Any]) -> dict[str, Any]:
    return _then(record, "SENT", 0)


Writes = list[list[dict[str, Any]]]  # rounds of writes; within a round, one per delivery


def sample_writes(now_ms: int) -> Writes:
    """The brief's users, transactions and failures (tx_002 and tx_004 failed), each delivery
    written as the push sender reports it: SENT first, then its outcome.

    Three stories for the timelines: tx_002's failure shows SENT then FAILED with its
    reason; tx_004 to test_user_001 failed with a timeout, was retried and delivered; and
    tx_003's receipt to test_user_003 came before the send confirmation, which arrived late
    (an older status after a newer one: it joins the timeline in its place).
    """
    final = [
        _delivery(
            "tx_001",
            "test_user_001",
            now_ms - 90 * MINUTE,
            "DELIVERED",
            "IOS",
            "Welcome to the spring campaign",
            ap_id="mobile-app-001",
        ),
        _delivery(
            "tx_001",
            "test_user_002",
            now_ms - 89 * MINUTE,
            "DELIVERED",
            "ANDROID",
            "Welcome to the spring campaign",
            ap_id="mobile-app-001",
        ),
        _delivery(
            "tx_002",
            "test_user_001",
            now_ms - 60 * MINUTE,
            "FAILED",
            "ANDROID",
            "Your order has shipped",
            ap_id="mobile-app-002",
            error_msg="Device token invalid",
        ),
        _delivery(
            "tx_002",
            "test_user_002",
            now_ms - 59 * MINUTE,
            "DELIVERED",
            "IOS",
            "Your order has shipped",
            ap_id="mobile-app-002",
        ),
        _delivery(
            "tx_003",
            "test_user_002",
            now_ms - 30 * MINUTE,
            "SENT",
            "WEBPUSH",
            "New login from a browser",
            ap_id="web-portal-001",
        ),
        _delivery(
            "tx_003",
            "test_user_003",
            now_ms - 29 * MINUTE,
            "DELIVERED",
            "WEBPUSH",
            "New login from a browser",
            ap_id="web-portal-001",
        ),
        _delivery(
            "tx_004",
            "test_user_003",
            now_ms - 5 * MINUTE,
            "FAILED",
            "IOS",
            "Flash sale ends tonight",
            ap_id="mobile-app-003",
            error_msg="Network timeout",
        ),
        _delivery(
            "tx_004",
            "test_user_001",
            now_ms - 4 * MINUTE,
            "DELIVERED",
            "IOS",
            "Flash sale ends tonight",
            ap_id="mobile-app-003",
        ),
        # Written before ap_id existed: the field is absent and the API returns null.
        _delivery(
            "tx_legacy_001",
            "test_user_001",
            now_ms - 3 * 24 * 60 * MINUTE,
            "DELIVERED",
            "ANDROID",
            "Legacy campaign",
            marketing_id="mkt_2025_summer",
        ),
    ]
    by_key = {(r["transaction_id"], r["user_id"]): r for r in final}
    late = by_key[("tx_003", "test_user_003")]
    retried = by_key[("tx_004", "test_user_001")]
    first = [_sent(r) for r in final if r is not late and r["status"] != "SENT"]
    first += [r for r in final if r["status"] == "SENT"]
    second = [r for r in final if r["status"] != "SENT" and r is not retried]
    second.append(_then(retried, "FAILED", 10_000, "Network timeout"))
    third = [_then(retried, "SENT", 20_000), _sent(late)]
    return [first, second, third, [retried]]


def generated_writes(now_ms: int, count: int = 300, seed: int = 7) -> Writes:
    """``count`` deliveries of 30 campaigns to 60 users, about 8 % failed."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    users = [f"user_{i:04d}" for i in range(1, 61)] + list(SAMPLE_USERS)
    records: dict[tuple[str, str], dict[str, Any]] = {}
    while len(records) < count:
        campaign = rng.randrange(1, 31)
        tx = f"tx_campaign_{campaign:03d}"
        user = rng.choice(users)
        if (tx, user) in records:
            continue
        at = now_ms - campaign * 6 * 60 * MINUTE - rng.randrange(0, 30 * MINUTE)
        roll = rng.random()
        status = "FAILED" if roll < 0.08 else ("SENT" if roll < 0.2 else "DELIVERED")
        records[(tx, user)] = _delivery(
            tx,
            user,
            at,
            status,
            rng.choice(("IOS", "ANDROID", "WEBPUSH")),
            TITLES[campaign % len(TITLES)],
            ap_id=SAMPLE_AP_IDS[campaign % len(SAMPLE_AP_IDS)],
            error_msg=rng.choice(ERRORS) if status == "FAILED" else None,
        )
    # One write each, in its final state: the sample tells the timelines' stories, and the
    # stack's start waits for the stream to project every write.
    return [list(records.values())]


def demo_writes(now_ms: int | None = None, generated: int = 300) -> Writes:
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    sample, extra = sample_writes(now_ms), generated_writes(now_ms, generated)
    empty: list[dict[str, Any]] = []
    return [a + b for a, b in itertools.zip_longest(sample, extra, fillvalue=empty)]


def newest(writes: Writes) -> list[dict[str, Any]]:
    """Each delivery's newest version (by updated_at): what the read side ends up showing."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for record in itertools.chain.from_iterable(writes):
        key = (record["transaction_id"], record["user_id"])
        if key not in found or record["updated_at"] >= found[key]["updated_at"]:
            found[key] = record
    return list(found.values())


def load_demo(
    client: DynamoDBClient, command_table: str, generated: int = 300
) -> list[dict[str, Any]]:
    """Write the demo deliveries to the command table, as the push sender would: round by
    round, so each delivery's changes reach the stream in order.

    The read side gets them the production way: stream → Stream Processor. Returns each
    delivery's newest version, so the caller can wait for the projection.
    """
    writes = demo_writes(generated=generated)
    for round_ in writes:
        batch_put(client, command_table, round_)
    return newest(writes)

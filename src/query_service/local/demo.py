"""Demo data: the brief's sample (MISSION.md) plus a few hundred generated deliveries.

The sample makes the brief's example calls give meaningful answers; the generated part
gives paging, filters and the other queries something to walk through. Generation is
seeded, so two runs hold the same records (only the timestamps follow the clock).
"""

from __future__ import annotations

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


def sample_records(now_ms: int) -> list[dict[str, Any]]:
    """The brief's users, transactions and failures (tx_002 and tx_004 failed)."""
    return [
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


def generated_records(now_ms: int, count: int = 300, seed: int = 7) -> list[dict[str, Any]]:
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
    return list(records.values())


def demo_records(now_ms: int | None = None, generated: int = 300) -> list[dict[str, Any]]:
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    return sample_records(now_ms) + generated_records(now_ms, generated)


def load_demo(
    client: DynamoDBClient, command_table: str, generated: int = 300
) -> list[dict[str, Any]]:
    """Write the demo deliveries to the command table, as the push sender would.

    The read side gets them the production way: stream → Stream Processor. Returns what
    was written, so the caller can wait for the projection.
    """
    records = demo_records(generated=generated)
    batch_put(client, command_table, records)
    return records

"""The notification record as clients see it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

# ARCHITECTURE §3: identifiers are 1-128 characters of this set.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"
IDENTIFIER_RE = re.compile(IDENTIFIER_PATTERN)
MAX_EPOCH_MS = 9_999_999_999_999  # 13 digits: the width of the sort key's time part


class Status(StrEnum):
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class Platform(StrEnum):
    IOS = "IOS"
    ANDROID = "ANDROID"
    WEBPUSH = "WEBPUSH"


# Lookups by value: calling the enum (``Status(value)``) costs several times more, and
# every record read or projected is checked.
_STATUSES: dict[str, Status] = {s.value: s for s in Status}
_PLATFORMS: dict[str, Platform] = {p.value: p for p in Platform}


class MalformedRecord(ValueError):
    """A stored or incoming record that does not have the Record shape."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


RECORD_FIELDS = (
    "transaction_id",
    "user_id",
    "created_at",
    "updated_at",
    "status",
    "platform",
    "notification_title",
    "ap_id",
    "marketing_id",
    "error_msg",
)


def _identifier(data: Mapping[str, Any], name: str, *, optional: bool = False) -> str | None:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not IDENTIFIER_RE.fullmatch(value):
        raise MalformedRecord(name, "missing or not an identifier")
    return value


def epoch_ms(value: object, name: str) -> int:
    """An integer millisecond timestamp, from JSON (int) or DynamoDB (Decimal)."""
    if isinstance(value, bool):
        raise MalformedRecord(name, "not an integer")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise MalformedRecord(name, "not an integer")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_EPOCH_MS:
        raise MalformedRecord(name, "not a millisecond timestamp")
    return value


def status_of(value: object, field: str = "status") -> Status:
    """A status from its value (or a member); MalformedRecord naming ``field`` otherwise."""
    status = _STATUSES.get(str(value))
    if status is None:
        raise MalformedRecord(field, "not one of SENT, DELIVERED, FAILED")
    return status


def optional_text(value: object, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise MalformedRecord(field, "not a string")


def _checked_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Record's fields from ``data``, checked; raises MalformedRecord naming the first bad
    field. The one place the Record shape is checked."""
    status = status_of(data.get("status"))
    platform = _PLATFORMS.get(str(data.get("platform")))
    if platform is None:
        raise MalformedRecord("platform", "not one of IOS, ANDROID, WEBPUSH")
    title = data.get("notification_title")
    if not isinstance(title, str):
        raise MalformedRecord("notification_title", "missing or not a string")
    created_at = epoch_ms(data.get("created_at"), "created_at")
    updated = data.get("updated_at")
    return {
        "transaction_id": _identifier(data, "transaction_id") or "",
        "user_id": _identifier(data, "user_id") or "",
        "created_at": created_at,
        # A write that never changed the status may leave it out: the delivery's creation
        # was its last status change.
        "updated_at": created_at if updated is None else epoch_ms(updated, "updated_at"),
        "status": status,
        "platform": platform,
        "notification_title": title,
        "ap_id": _identifier(data, "ap_id", optional=True),
        "marketing_id": optional_text(data.get("marketing_id"), "marketing_id"),
        "error_msg": optional_text(data.get("error_msg"), "error_msg"),
    }


@dataclass(frozen=True, slots=True)
class Record:
    transaction_id: str
    user_id: str
    created_at: int
    updated_at: int
    status: Status
    platform: Platform
    notification_title: str
    ap_id: str | None = None
    marketing_id: str | None = None
    error_msg: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Record:
        """Check and convert; raises MalformedRecord naming the first bad field."""
        return cls(**_checked_fields(data))

    def to_dict(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "user_id": self.user_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "status": self.status.value,
            "platform": self.platform.value,
            "notification_title": self.notification_title,
            "ap_id": self.ap_id,
            "marketing_id": self.marketing_id,
            "error_msg": self.error_msg,
        }

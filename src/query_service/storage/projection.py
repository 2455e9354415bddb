"""command-records item → notification-records item (ARCHITECTURE §5).

Pure: the demo loader and the Stream Processor both call it, so the read side is derived
one way only. It raises MalformedRecord rather than guessing, so a bad command record is
reported, never half-projected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from query_service.domain.records import Record, Status, epoch_ms


def sort_key(created_at: int, transaction_id: str) -> str:
    """Newest-first ordering by time, unique per delivery even within one millisecond."""
    return f"{created_at:013d}#{transaction_id}"


def project_record(command: Mapping[str, Any]) -> dict[str, Any]:
    """The read item for one command record, as plain values (None = attribute absent)."""
    record = Record.from_mapping(command)
    updated = command.get("updated_at")
    updated_at = record.created_at if updated is None else epoch_ms(updated, "updated_at")
    item = record.to_dict()
    item["sk"] = sort_key(record.created_at, record.transaction_id)
    item["updated_at"] = updated_at
    item["failed_tx"] = record.transaction_id if record.status is Status.FAILED else None
    return item


def read_key(command_keys: Mapping[str, Any], created_at: int) -> dict[str, str]:
    """Where the read item of a command record lives."""
    return {
        "user_id": str(command_keys["user_id"]),
        "sk": sort_key(created_at, str(command_keys["transaction_id"])),
    }

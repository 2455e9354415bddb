from __future__ import annotations

from decimal import Decimal

import pytest

from query_service.domain.records import MalformedRecord, Platform, Record, Status
from query_service.storage.projection import project_record, sort_key
from tests.support import command, record


def test_record_round_trips() -> None:
    assert Record.from_mapping(record()).to_dict() == record()


def test_an_identifier_is_the_whole_value_not_a_prefix_before_a_newline() -> None:
    for value in ("tx_001\n", "tx_001\nmore", "\ntx_001"):
        with pytest.raises(MalformedRecord) as caught:
            Record.from_mapping(record(transaction_id=value))
        assert caught.value.field == "transaction_id"


def test_status_and_platform_are_read_from_strings_or_members() -> None:
    converted = Record.from_mapping(record(status=Status.FAILED, platform=Platform.WEBPUSH))
    assert converted.status is Status.FAILED and converted.platform is Platform.WEBPUSH
    assert converted == Record.from_mapping(record(status="FAILED", platform="WEBPUSH"))


def test_decimal_timestamps_from_dynamodb_become_ints() -> None:
    converted = Record.from_mapping(
        record(created_at=Decimal("1700000000000"), updated_at=Decimal("1700000000001"))
    )
    assert (converted.created_at, converted.updated_at) == (1_700_000_000_000, 1_700_000_000_001)
    assert isinstance(converted.created_at, int) and isinstance(converted.updated_at, int)


def test_a_record_without_updated_at_was_last_changed_when_created() -> None:
    data = record()
    del data["updated_at"]
    assert Record.from_mapping(data).updated_at == data["created_at"]


def test_records_written_before_ap_id_existed_read_as_null() -> None:
    legacy = record()
    del legacy["ap_id"]
    assert Record.from_mapping(legacy).ap_id is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "LOST"}, "status"),
        ({"status": "failed"}, "status"),
        ({"status": None}, "status"),
        ({"platform": "SYMBIAN"}, "platform"),
        ({"platform": ["IOS"]}, "platform"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"created_at": Decimal("1.5")}, "created_at"),
        ({"created_at": True}, "created_at"),
        ({"updated_at": "later"}, "updated_at"),
        ({"updated_at": -1}, "updated_at"),
        ({"transaction_id": None}, "transaction_id"),
        ({"user_id": "has space"}, "user_id"),
        ({"notification_title": None}, "notification_title"),
        ({"error_msg": 5}, "error_msg"),
    ],
)
def test_malformed_records_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(MalformedRecord) as caught:
        Record.from_mapping(record(**change))
    assert caught.value.field == field


def test_projection_keeps_secrets_on_the_write_side() -> None:
    item = project_record(command())
    assert not {"device_token", "payload"} & item.keys()  # only on the write side
    assert "secret-device-token" not in repr(item)


def test_projection_sort_key_orders_by_time_and_separates_same_millisecond() -> None:
    item = project_record(command(created_at=42, transaction_id="tx_9"))
    assert item["sk"] == "0000000000042#tx_9"
    assert sort_key(42, "tx_a") != sort_key(42, "tx_b")
    assert sort_key(9, "z") < sort_key(10, "a")


def test_failed_records_carry_failed_tx_and_others_do_not() -> None:
    failed = project_record(command(status="FAILED", error_msg="Device token invalid"))
    assert failed["failed_tx"] == "tx_001"
    assert project_record(command(status="DELIVERED"))["failed_tx"] is None


def test_projection_keeps_every_record_field_and_updated_at() -> None:
    item = project_record(command(updated_at=1_700_000_000_500, status=Status.SENT.value))
    assert {k: item[k] for k in record()} == record(status="SENT", updated_at=1_700_000_000_500)


def test_updated_at_defaults_to_created_at() -> None:
    source = command()
    del source["updated_at"]
    assert project_record(source)["updated_at"] == source["created_at"]


def test_projection_refuses_rather_than_guesses() -> None:
    with pytest.raises(MalformedRecord):
        project_record(command(status="UNKNOWN"))

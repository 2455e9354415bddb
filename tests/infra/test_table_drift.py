"""The tables of the local stack (storage/tables.py) and of Terraform (modules/dynamodb)
are one definition: keys, attribute types, indexes, projections, stream, billing mode."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from query_service.storage.tables import (
    COMMAND_TABLE,
    NOTIFICATION_TABLE,
    STATS_TABLE,
    command_table_spec,
    notification_table_spec,
    stats_table_spec,
    time_to_live_spec,
)
from tests.infra.terraform import stack

Shape = dict[str, Any]


def _keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
    by_type = {k["KeyType"]: k["AttributeName"] for k in schema}
    return by_type["HASH"], by_type.get("RANGE")


def spec_shape(spec: dict[str, Any]) -> Shape:
    """A create_table spec (and its TTL) reduced to what both definitions must agree on."""
    stream = spec.get("StreamSpecification", {})
    ttl = time_to_live_spec(spec["TableName"])["TimeToLiveSpecification"]
    return {
        "name": spec["TableName"],
        "billing_mode": spec["BillingMode"],
        "keys": _keys(spec["KeySchema"]),
        "attributes": {
            a["AttributeName"]: a["AttributeType"] for a in spec["AttributeDefinitions"]
        },
        "indexes": {
            gsi["IndexName"]: (
                _keys(gsi["KeySchema"]),
                gsi["Projection"]["ProjectionType"],
                tuple(sorted(gsi["Projection"].get("NonKeyAttributes", []))),
            )
            for gsi in spec.get("GlobalSecondaryIndexes", [])
        },
        "local_indexes": sorted(i["IndexName"] for i in spec.get("LocalSecondaryIndexes", [])),
        "stream": stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        "ttl": ttl["AttributeName"] if ttl["Enabled"] else None,
    }


def terraform_shape(table: dict[str, Any]) -> Shape:
    """An aws_dynamodb_table (variables resolved) reduced the same way."""
    return {
        "name": table["name"],
        "billing_mode": table["billing_mode"],
        "keys": (table["hash_key"], table.get("range_key")),
        "attributes": {a["name"]: a["type"] for a in table.get("attribute", [])},
        "indexes": {
            gsi["name"]: (
                (gsi["hash_key"], gsi.get("range_key")),
                gsi["projection_type"],
                tuple(sorted(gsi.get("non_key_attributes", []))),
            )
            for gsi in table.get("global_secondary_index", [])
        },
        "local_indexes": sorted(i["name"] for i in table.get("local_secondary_index", [])),
        "stream": table.get("stream_view_type") if table.get("stream_enabled") else None,
        "ttl": next((t["attribute_name"] for t in table.get("ttl", []) if t.get("enabled")), None),
    }


def terraform_tables() -> dict[str, Shape]:
    tables = stack()["dynamodb"].of_type("aws_dynamodb_table")
    shapes = [terraform_shape(stack().resolve("dynamodb", t)) for t in tables.values()]
    return {shape["name"]: shape for shape in shapes}


def drift(local: Shape, terraform: Shape) -> list[str]:
    return [
        f"{key}: local {local[key]!r} != terraform {terraform[key]!r}"
        for key in local
        if local[key] != terraform[key]
    ]


@pytest.mark.parametrize(
    "spec",
    [command_table_spec(), notification_table_spec(), stats_table_spec()],
    ids=lambda s: s["TableName"],
)
def test_terraform_defines_the_table_the_local_stack_creates(spec: dict[str, Any]) -> None:
    local = spec_shape(spec)
    terraform = terraform_tables()
    assert local["name"] in terraform, f"no Terraform table named {local['name']}"
    assert drift(local, terraform[local["name"]]) == []


def test_no_table_exists_only_in_terraform() -> None:
    assert set(terraform_tables()) == {COMMAND_TABLE, NOTIFICATION_TABLE, STATS_TABLE}


def test_the_retained_marketing_index_is_in_both() -> None:
    assert "marketing_id-index" in terraform_tables()[NOTIFICATION_TABLE]["indexes"]
    assert "marketing_id-index" in spec_shape(notification_table_spec())["indexes"]


def _mutations() -> list[tuple[str, dict[str, Any]]]:
    def edited(edit: Any) -> dict[str, Any]:
        spec = copy.deepcopy(notification_table_spec())
        edit(spec)
        return spec

    return [
        ("index dropped", edited(lambda s: s["GlobalSecondaryIndexes"].pop())),
        ("range key", edited(lambda s: s["KeySchema"][1].update(AttributeName="created_at"))),
        (
            "attribute type",
            edited(lambda s: s["AttributeDefinitions"][3].update(AttributeType="S")),
        ),
        (
            "projection",
            edited(
                lambda s: s["GlobalSecondaryIndexes"][0].update(
                    Projection={"ProjectionType": "KEYS_ONLY"}
                )
            ),
        ),
        (
            "index key",
            edited(
                lambda s: s["GlobalSecondaryIndexes"][1]["KeySchema"][0].update(
                    AttributeName="marketing_id"
                )
            ),
        ),
        ("billing", edited(lambda s: s.update(BillingMode="PROVISIONED"))),
        (
            "stream",
            edited(
                lambda s: s.update(
                    StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
                )
            ),
        ),
    ]


@pytest.mark.parametrize(("change", "spec"), _mutations(), ids=[m[0] for m in _mutations()])
def test_the_comparison_sees_each_kind_of_drift(change: str, spec: dict[str, Any]) -> None:
    assert drift(spec_shape(spec), terraform_tables()[NOTIFICATION_TABLE]), change


def test_every_table_expires_items_by_expires_at() -> None:
    assert {name: shape["ttl"] for name, shape in terraform_tables().items()} == {
        COMMAND_TABLE: "expires_at",
        NOTIFICATION_TABLE: "expires_at",
        STATS_TABLE: "expires_at",
    }
    shape = spec_shape(command_table_spec())
    assert drift(shape, {**shape, "ttl": None}) == ["ttl: local 'expires_at' != terraform None"]

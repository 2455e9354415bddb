"""The statistics read model in DynamoDB: sharded counter items (docs/capacity.md).

Each scope (a transaction; an application's UTC day) has ``SHARDS`` counter items, one
partition key each: ``tx#<transaction_id>#07``, ``app#<ap_id>#<YYYY-MM-DD>#07``. A delivery
always counts in the same shard of each of its scopes (a hash of its key), so a hot campaign's
counter writes spread evenly over ``SHARDS`` partitions, and a read is one BatchGetItem of
``SHARDS`` known keys per scope, whatever the number of deliveries.

Writes are ``ADD`` updates built by ``counter_updates``: the projection puts them in one
``TransactWriteItems`` with the read item's conditional put or delete, so the counts move
exactly when, and only when, the read item's state does.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from query_service.domain.statistics import Scope, count_deltas, daily, days_until, funnel
from query_service.storage.dynamo import batch_get, from_item
from query_service.storage.tables import TTL_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Counter items per scope. Each takes about 500 transactional updates a second (a partition's
# 1,000 WCU/s, two per transactional write of an item under 1 KB): see docs/capacity.md.
# It may grow (a reader sums every shard up to it), never shrink.
SHARDS = 16
# Counter items outlive the deliveries they count by this much, so that the REMOVE of a
# delivery whose retention ended still finds its counters (the TTL sweep lags); a reader
# ignores a counter item past its own expires_at.
COUNTER_GRACE_SECONDS = 7 * 86_400


def counter_expiry(items: list[Mapping[str, Any]], now: float) -> int:
    """The expires_at a counter item gets when ``items`` (a delivery before and after a
    change) move it: 0 when they carry none.

    Every write sets the whole value (an update cannot take a maximum), so it must never
    undercut a delivery counted earlier, whatever order the changes come in. It is the
    later of the deliveries' own expiry and the expiry a delivery created ``now`` would get
    (now plus the same retention, ``expires_at - created_at``), plus the grace: a counted
    delivery was projected no later than now, so its expiry (its created_at plus the
    retention) is at most that, unless it was created more than the grace in the future.
    """
    latest = 0
    for item in items:
        expires = int(item.get(TTL_ATTRIBUTE) or 0)
        if expires:
            retention = expires - int(item["created_at"]) // 1000
            latest = max(latest, expires, int(now) + retention)
    return latest + COUNTER_GRACE_SECONDS if latest else 0


def shard_of(transaction_id: str, user_id: str) -> int:
    """The shard a delivery counts in, the same in every scope and on every run."""
    return zlib.crc32(f"{transaction_id}#{user_id}".encode()) % SHARDS


def counter_key(scope: Scope, shard: int) -> str:
    """The counter item's partition key (identifiers never hold ``#``)."""
    day = "" if scope.day is None else f"#{scope.day}"
    return f"{scope.kind}#{scope.id}{day}#{shard:02d}"


def _scope_attributes(scope: Scope) -> dict[str, str]:
    """What the counter item says about itself, for whoever reads the table by hand."""
    if scope.kind == "tx":
        return {"transaction_id": scope.id}
    return {"ap_id": scope.id, "day": scope.day or ""}


def counter_updates(
    table: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """The ``TransactWriteItems`` updates that move the counters as a read item changes
    from ``before`` to ``after`` (None: no item) at ``now`` (epoch seconds, the clock's by
    default); empty when no count moves."""
    moved = count_deltas(before, after)
    if not moved:
        return []
    item = after if after is not None else before
    assert item is not None  # a delta needs an item on one side
    shard = shard_of(str(item["transaction_id"]), str(item["user_id"]))
    expiry = counter_expiry(
        [i for i in (before, after) if i is not None], time.time() if now is None else now
    )
    updates = []
    for scope, deltas in moved.items():
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        adds = []
        for n, (counter, delta) in enumerate(deltas.items()):
            names[f"#c{n}"] = counter
            values[f":c{n}"] = {"N": str(delta)}
            adds.append(f"#c{n} :c{n}")
        sets = []
        for n, (name, value) in enumerate(_scope_attributes(scope).items()):
            names[f"#a{n}"] = name
            values[f":a{n}"] = {"S": value}
            sets.append(f"#a{n} = :a{n}")
        if expiry:
            names["#ttl"] = TTL_ATTRIBUTE
            values[":ttl"] = {"N": str(expiry)}
            sets.append("#ttl = :ttl")
        updates.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": counter_key(scope, shard)}},
                    "UpdateExpression": f"ADD {', '.join(adds)} SET {', '.join(sets)}",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        )
    return updates


class StatsRepository:
    """The read side of the statistics: a bounded number of BatchGetItem calls per answer,
    ``ceil(scopes * SHARDS / 100)``, independent of how many deliveries were counted."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _counters(self, scopes: list[Scope]) -> dict[Scope, list[dict[str, Any]]]:
        by_key = {counter_key(s, shard): s for s in scopes for shard in range(SHARDS)}
        found: dict[Scope, list[dict[str, Any]]] = {s: [] for s in scopes}
        now = int(time.time())
        keys = [{"pk": {"S": k}} for k in by_key]
        for raw in batch_get(self._client, self._table, keys):
            item = from_item(raw)
            expiry = item.get(TTL_ATTRIBUTE)
            if isinstance(expiry, int) and expiry <= now:
                continue  # past its TTL, not yet swept
            found[by_key[str(item["pk"])]].append(item)
        return found

    def transaction(self, transaction_id: str) -> dict[str, Any]:
        """The funnel of one transaction: one BatchGetItem of SHARDS keys."""
        scope = Scope.transaction(transaction_id)
        counters = self._counters([scope])[scope]
        return funnel(transaction_id, counters, int(time.time() * 1000))

    def application(self, ap_id: str, days: int) -> dict[str, Any]:
        """The last ``days`` UTC days of one application, oldest first, zeros included."""
        wanted = days_until(datetime.now(UTC).date(), days)
        scopes = [Scope.app_day(ap_id, day) for day in wanted]
        counters = self._counters(scopes)
        return daily(ap_id, wanted, {s.day or "": c for s, c in counters.items()})

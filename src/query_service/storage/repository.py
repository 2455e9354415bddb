"""Every read the service makes: DynamoDB ``Query`` calls with a key condition, never a ``Scan``.

One plan per list query kind (table or index, key condition, filters) feeds one paging
routine, so the list queries cannot drift apart; ``delivery`` reads one delivery with its
timeline from the index keyed for it.

No read ever returns a record past its ``expires_at``, even before DynamoDB's TTL sweep
(which can lag by days) has deleted it: every read filters on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from query_service.domain.queries import DeliveryQuery, FailQuery, ListQuery, TxQuery, UserQuery
from query_service.domain.records import RECORD_FIELDS, MalformedRecord, Record
from query_service.domain.timeline import Delivery
from query_service.storage.dynamo import from_item, to_attribute, to_item
from query_service.storage.projection import stored_timeline
from query_service.storage.tables import (
    DELIVERY_INDEX,
    FAILURES_INDEX,
    TRANSACTION_INDEX,
    TTL_ATTRIBUTE,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from query_service.domain.cursor import LastKey

log = logging.getLogger(__name__)

_TABLE_KEYS = ("user_id", "sk")
# With a filter DynamoDB counts items before filtering, so a page is gathered over several
# reads of at most this size, up to a bound that keeps one request's cost predictable.
FILTERED_READ_SIZE = 100
MAX_FILTERED_READS = 8
READ_GROWTH = 4
# A list query reads the Record's fields and the keys it pages by; a read item's timeline
# is for /query/delivery only.
_LISTED = (*RECORD_FIELDS, "sk", "failed_tx")
_LISTED_NAMES = {f"#r{i}": name for i, name in enumerate(_LISTED)}
_LISTED_PROJECTION = ", ".join(_LISTED_NAMES)
_NOT_EXPIRED = "(attribute_not_exists(#exp) OR #exp > :now)"


class StoredRecordError(RuntimeError):
    """An item in the read table that is not a Record: a data fault, never skipped."""


class StartKeyMismatch(ValueError):
    """A start key whose attributes are not this query's key attributes."""


class Page(NamedTuple):
    records: list[Record]
    last_key: LastKey | None
    reads: int = 1


class _Plan(NamedTuple):
    index_name: str | None
    key_names: tuple[str, ...]
    condition: str
    names: dict[str, str]
    values: dict[str, Any]
    filter: str
    selective: bool  # filters beyond expiry: most items may be dropped


def _key_condition(query: ListQuery) -> tuple[str | None, tuple[str, ...], str, dict[str, Any]]:
    """Index, key attributes, key condition and its values for ``query``."""
    if isinstance(query, UserQuery):
        values: dict[str, Any] = {":pk": {"S": query.user_id}}
        condition = "#pk = :pk"
        low = None if query.since is None else f"{query.since:013d}"
        # '~' sorts after every identifier character, so this bound keeps the whole millisecond.
        high = None if query.until is None else f"{query.until:013d}#~"
        if low is not None and high is not None:
            condition += " AND #sk BETWEEN :lo AND :hi"
            values |= {":lo": {"S": low}, ":hi": {"S": high}}
        elif low is not None:
            condition += " AND #sk >= :lo"
            values[":lo"] = {"S": low}
        elif high is not None:
            condition += " AND #sk <= :hi"
            values[":hi"] = {"S": high}
        return None, _TABLE_KEYS, condition, values
    if isinstance(query, FailQuery):
        index, partition = FAILURES_INDEX, "failed_tx"
    elif isinstance(query, TxQuery):
        index, partition = TRANSACTION_INDEX, "transaction_id"
    else:  # pragma: no cover - the union is exhaustive
        raise TypeError(type(query).__name__)
    key_names = (partition, "created_at", *_TABLE_KEYS)
    return index, key_names, "#pk = :pk", {":pk": {"S": query.partition}}


def _plan(query: ListQuery, now: int) -> _Plan:
    index, key_names, condition, values = _key_condition(query)
    names = {"#pk": key_names[0], "#exp": TTL_ATTRIBUTE} | _LISTED_NAMES
    if "#sk" in condition:
        names["#sk"] = "sk"
    values[":now"] = {"N": str(now)}
    clauses = [_NOT_EXPIRED]
    for i, (attribute, wanted) in enumerate(query.filters().items()):
        names[f"#f{i}"] = attribute
        options = [f":f{i}_{j}" for j in range(len(wanted))]
        values |= {o: to_attribute(v) for o, v in zip(options, wanted, strict=True)}
        clauses.append(
            f"#f{i} = {options[0]}" if len(options) == 1 else f"#f{i} IN ({', '.join(options)})"
        )
    return _Plan(
        index, key_names, condition, names, values, " AND ".join(clauses), len(clauses) > 1
    )


def _to_record(item: dict[str, Any]) -> Record:
    values = from_item(item)
    try:
        return Record.from_mapping(values)
    except MalformedRecord as exc:
        key = {k: values.get(k) for k in _TABLE_KEYS}
        log.error("malformed item in the read table", extra={"key": key, "field": exc.field})
        raise StoredRecordError(f"read item {key} is malformed: {exc}") from exc


class ReadRepository:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    def page(self, query: ListQuery, start: LastKey | None = None) -> Page:
        """One page of ``query``, resuming after ``start`` (a previous page's last_key).

        Records are read newest first and filtered (expiry, and the query's filters) by
        DynamoDB; a page is filled over at most MAX_FILTERED_READS reads. It stops at the
        last record it returns, so the next page goes on from there: every match once.
        """
        plan = _plan(query, int(self._clock()))
        if start is not None and set(start) != set(plan.key_names):
            raise StartKeyMismatch(sorted(start))
        limit = query.limit
        kept: list[tuple[Record, dict[str, Any]]] = []
        last_key = start
        reads = 0
        # Unfiltered, the first read is the page itself (expired records are rare: they
        # wait only for the sweep); a selective filter starts larger. Each further read is
        # larger again, up to FILTERED_READ_SIZE: few reads for a rare match, and a page of
        # one does not read a hundred records.
        size = min(FILTERED_READ_SIZE, limit * READ_GROWTH if plan.selective else limit)
        while reads < MAX_FILTERED_READS:
            response = self._query(plan, size, last_key)
            reads += 1
            kept.extend((_to_record(i), i) for i in response.get("Items", []))
            last_key = self._last_key(response)
            if len(kept) > limit:
                # Stop at the last record returned; the next page re-reads what follows it.
                item = kept[limit - 1][1]
                resume = cast("LastKey", from_item({k: item[k] for k in plan.key_names}))
                return Page([r for r, _ in kept[:limit]], resume, reads)
            if len(kept) == limit or last_key is None:
                break
            size = min(FILTERED_READ_SIZE, size * READ_GROWTH)
        return Page([r for r, _ in kept], last_key, reads)

    def delivery(self, query: DeliveryQuery) -> Delivery | None:
        """The delivery ``query`` names with its timeline; None if there is none (or it has
        expired). One Query on the index keyed by the delivery: its cost does not grow with
        the transaction or the user's history."""
        response: dict[str, Any] = self._client.query(  # type: ignore[assignment]
            TableName=self._table,
            IndexName=DELIVERY_INDEX,
            KeyConditionExpression="#t = :t AND #u = :u",
            FilterExpression=_NOT_EXPIRED,
            ExpressionAttributeNames={
                "#t": "transaction_id",
                "#u": "user_id",
                "#exp": TTL_ATTRIBUTE,
            },
            ExpressionAttributeValues={
                ":t": {"S": query.transaction_id},
                ":u": {"S": query.user_id},
                ":now": {"N": str(int(self._clock()))},
            },
        )
        items = response.get("Items", [])
        if not items:
            return None
        # Two only while a re-created delivery's old item waits for its REMOVE: the newer.
        item = max(items, key=lambda i: i["sk"]["S"])
        record = _to_record(item)
        try:
            timeline = stored_timeline(from_item(item))
        except MalformedRecord as exc:
            key = {k: item[k] for k in _TABLE_KEYS}
            log.error("malformed timeline in the read table", extra={"key": str(key)})
            raise StoredRecordError(f"read item {key} has a malformed timeline") from exc
        return Delivery(record, timeline)

    def _query(self, plan: _Plan, limit: int, start: LastKey | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": plan.condition,
            "FilterExpression": plan.filter,
            "ProjectionExpression": _LISTED_PROJECTION,
            "ExpressionAttributeNames": plan.names,
            "ExpressionAttributeValues": plan.values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if plan.index_name is not None:
            kwargs["IndexName"] = plan.index_name
        if start is not None:
            kwargs["ExclusiveStartKey"] = to_item(start)
        response: dict[str, Any] = self._client.query(**kwargs)  # type: ignore[assignment]
        return response

    @staticmethod
    def _last_key(response: dict[str, Any]) -> LastKey | None:
        last = response.get("LastEvaluatedKey")
        if not last:
            return None
        return from_item(last)  # type: ignore[return-value]

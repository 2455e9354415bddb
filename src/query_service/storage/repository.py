"""Every read the service makes: one DynamoDB ``Query`` per page, never a ``Scan``.

One plan per query kind (table or index, key condition, optional filter) feeds one paging
routine, so the three queries cannot drift apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from query_service.domain.queries import FailQuery, ListQuery, TxQuery, UserQuery
from query_service.domain.records import MalformedRecord, Record
from query_service.storage.dynamo import from_item, to_item
from query_service.storage.tables import FAILURES_INDEX, TRANSACTION_INDEX

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from query_service.domain.cursor import LastKey

log = logging.getLogger(__name__)

_TABLE_KEYS = ("user_id", "sk")
# With the ap_id filter DynamoDB counts items before filtering, so a page is gathered over
# several reads of this size, up to a bound that keeps one request's cost predictable.
FILTERED_READ_SIZE = 100
MAX_FILTERED_READS = 8


class StoredRecordError(RuntimeError):
    """An item in the read table that is not a Record: a data fault, never skipped."""


class StartKeyMismatch(ValueError):
    """A start key whose attributes are not this query's key attributes."""


@dataclass(frozen=True, slots=True)
class Page:
    records: list[Record]
    last_key: LastKey | None
    reads: int = 1


@dataclass(frozen=True, slots=True)
class _Plan:
    index: str | None
    key_names: tuple[str, ...]
    condition: str
    names: dict[str, str]
    values: dict[str, Any]
    filter: str | None = None
    filter_values: dict[str, Any] = field(default_factory=dict)


def _plan(query: ListQuery) -> _Plan:
    if isinstance(query, UserQuery):
        names = {"#pk": "user_id"}
        values: dict[str, Any] = {":pk": {"S": query.user_id}}
        condition = "#pk = :pk"
        low = None if query.since is None else f"{query.since:013d}"
        # '~' sorts after every identifier character, so this bound keeps the whole millisecond.
        high = None if query.until is None else f"{query.until:013d}#~"
        if low is not None or high is not None:
            names["#sk"] = "sk"
        if low is not None and high is not None:
            condition += " AND #sk BETWEEN :lo AND :hi"
            values |= {":lo": {"S": low}, ":hi": {"S": high}}
        elif low is not None:
            condition += " AND #sk >= :lo"
            values[":lo"] = {"S": low}
        elif high is not None:
            condition += " AND #sk <= :hi"
            values[":hi"] = {"S": high}
        if query.ap_id is None:
            return _Plan(None, _TABLE_KEYS, condition, names, values)
        names["#ap"] = "ap_id"
        return _Plan(
            None, _TABLE_KEYS, condition, names, values, "#ap = :ap", {":ap": {"S": query.ap_id}}
        )
    if isinstance(query, FailQuery):
        index, partition = FAILURES_INDEX, "failed_tx"
    elif isinstance(query, TxQuery):
        index, partition = TRANSACTION_INDEX, "transaction_id"
    else:  # pragma: no cover - the union is exhaustive
        raise TypeError(type(query).__name__)
    return _Plan(
        index,
        (partition, "created_at", *_TABLE_KEYS),
        "#pk = :pk",
        {"#pk": partition},
        {":pk": {"S": query.partition}},
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
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def page(self, query: ListQuery, start: LastKey | None = None) -> Page:
        """One page of ``query``, resuming after ``start`` (a previous page's last_key)."""
        plan = _plan(query)
        if start is not None and set(start) != set(plan.key_names):
            raise StartKeyMismatch(sorted(start))
        if plan.filter is None:
            response = self._query(plan, query.limit, start)
            records = [_to_record(i) for i in response.get("Items", [])]
            return Page(records, self._last_key(response))
        return self._filtered_page(plan, query.limit, start)

    def _filtered_page(self, plan: _Plan, limit: int, start: LastKey | None) -> Page:
        kept: list[tuple[Record, dict[str, Any]]] = []
        last_key = start
        reads = 0
        while reads < MAX_FILTERED_READS:
            response = self._query(plan, FILTERED_READ_SIZE, last_key)
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
        return Page([r for r, _ in kept], last_key, reads)

    def _query(self, plan: _Plan, limit: int, start: LastKey | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": plan.condition,
            "ExpressionAttributeNames": plan.names,
            "ExpressionAttributeValues": plan.values | plan.filter_values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if plan.index is not None:
            kwargs["IndexName"] = plan.index
        if plan.filter is not None:
            kwargs["FilterExpression"] = plan.filter
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

"""The stream records as Lambda hands them to the function, and its answer read back.

``lambda_record`` shapes a GetRecords record (as the streams client of storage/dynamo.py
hands it over: as DynamoDB sent it) as it appears in the Lambda event;
``first_failure`` reads a partial batch response (``batchItemFailures``) as Lambda does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

StreamRecord = dict[str, Any]


def lambda_record(raw: Mapping[str, Any], stream_arn: str) -> StreamRecord:
    """A GetRecords record as it appears in the Lambda event."""
    record = dict(raw)
    stream = dict(record.get("dynamodb") or {})
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):  # parsed by botocore
        stream["ApproximateCreationDateTime"] = int(created.timestamp())
    elif isinstance(created, float):  # as sent: epoch seconds, Lambda's are whole
        stream["ApproximateCreationDateTime"] = int(created)
    record["dynamodb"] = stream
    record["eventSourceARN"] = stream_arn
    return record


def first_failure(response: object, records: list[StreamRecord]) -> int | None:
    """Index of the first failed record per the function's answer; None if all succeeded.

    An answer that is not a valid partial batch response fails the whole batch, as it does
    on Lambda.
    """
    if response is None:
        return None
    if not isinstance(response, Mapping):
        return 0
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return None
    if not isinstance(failures, list):
        return 0
    positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(records)}
    found = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if identifier not in positions:
            return 0  # empty or unknown identifier: Lambda fails the whole batch
        found.append(positions[identifier])
    return min(found)


def sequence_of(record: StreamRecord) -> str:
    sequence: str = record["dynamodb"]["SequenceNumber"]
    return sequence


def iterator_age_ms(record: StreamRecord) -> int | None:
    """Lambda's IteratorAge for this record (DynamoDB Local rounds its time to the minute)."""
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    if not isinstance(created, int | float):
        return None
    return max(0, int((time.time() - created) * 1000))

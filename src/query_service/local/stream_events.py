"""The stream records as Lambda hands them to the function, and its answer read back.

``lambda_record`` shapes a GetRecords record as it appears in the Lambda event;
``records_as_sent`` has a streams client hand GetRecords' records over as DynamoDB sent them;
``first_failure`` reads a partial batch response (``batchItemFailures``) as Lambda does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

StreamRecord = dict[str, Any]


def _records_unparsed(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """``before-parse`` of GetRecords: take the records out of the body before botocore
    walks them. Its parser visits every member of the AttributeValue shape for every
    attribute of every image, to rebuild what the body already says (a tenth of the
    local stream tier's CPU in a profile); Lambda hands the function the records in
    DynamoDB's own JSON anyway (binary values base64-encoded, times as epoch numbers),
    which is what the function reads. botocore still parses the rest of the answer, and
    an error answer is left to it whole."""
    if response_dict.get("status_code") != 200:
        return
    body = orjson.loads(response_dict["body"])
    records = body.pop("Records", None) if isinstance(body, dict) else None
    if isinstance(records, list):
        customized_response_dict["Records"] = records
        response_dict["body"] = orjson.dumps(body)


def records_as_sent(streams: Any) -> None:
    """Have ``streams`` (a DynamoDB Streams client) answer GetRecords with the records as
    DynamoDB sent them, unparsed (``_records_unparsed`` says why)."""
    streams.meta.events.register("before-parse.dynamodb-streams.GetRecords", _records_unparsed)


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

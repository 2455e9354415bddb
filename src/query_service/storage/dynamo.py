"""DynamoDB client creation and attribute-value conversion.

The low-level client is used everywhere (not the resource API): it is faster, and the
record shape is known, so the conversion below is all the (de)serialisation needed. It is
made with botocore directly: ``import boto3`` also loads s3transfer, about 55 ms of every
Lambda cold start for nothing this service uses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import botocore.session
import orjson
from botocore.config import Config
from botocore.context import get_context
from botocore.exceptions import ClientError
from botocore.parsers import JSONParser, ResponseParserFactory

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

    from query_service.config import Settings

AttributeValue = dict[str, Any]

# Where any of these occurs in a response body, an attribute value in it may be binary
# (B, BS: base64 on the wire, bytes once parsed) or a key may be written with an escape:
# that response is parsed the whole way, as botocore does.
_NOT_PLAIN = (b'"B"', b'"BS"', b"\\u")


class _ItemsAsSent(JSONParser):
    """botocore's JSON parser, which leaves a response's attribute values (the items, the
    keys) as DynamoDB sent them instead of walking each one's shape.

    On the wire an attribute value is already what botocore makes of it (``{"S": ...}``,
    ``{"N": "12"}``, ``{"M": {...}}``), but for binary values, which are base64 there and
    bytes once parsed: a response that may hold one is parsed the whole way. The walk was
    a fifth of the Query Result Lambda's CPU per query; everything else in a response
    (counts, capacity, errors) is still parsed by its shape.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Decided per response and held by no attribute: one client (and so one parser)
        # serves the Stream Processor's writer threads at once.
        self._whole = JSONParser(**kwargs)

    def parse(self, response: Mapping[str, Any], shape: Any) -> Any:
        if any(marker in response["body"] for marker in _NOT_PLAIN):
            return self._whole.parse(response, shape)
        return super().parse(response, shape)

    def _handle_map(self, shape: Any, value: dict[str, Any]) -> dict[str, Any]:
        if shape.value.name == "AttributeValue":
            return value
        parsed: dict[str, Any] = super()._handle_map(shape, value)  # type: ignore[misc]
        return parsed

    def _handle_structure(self, shape: Any, value: Any) -> Any:
        if shape.name == "AttributeValue":
            return value
        return super()._handle_structure(shape, value)  # type: ignore[misc]


class _RecordsAsSent(JSONParser):
    """botocore's JSON parser for the streams client, which hands GetRecords' records over
    as DynamoDB sent them, as Lambda hands them to the function: attribute values in
    DynamoDB JSON, binary ones still base64. They are taken out of the body before botocore
    walks every member of every image's attribute values (about four times the CPU per
    record; a tenth of the local stream tier's), and botocore parses the rest of the answer.
    An error answer is left to it whole."""

    def parse(self, response: Mapping[str, Any], shape: Any) -> Any:
        if response["status_code"] == 200 and getattr(shape, "name", "") == "GetRecordsOutput":
            body = orjson.loads(response["body"])
            records = body.pop("Records", None) if isinstance(body, dict) else None
            if isinstance(records, list):
                parsed = super().parse({**response, "body": orjson.dumps(body)}, shape)
                parsed["Records"] = records
                return parsed
        return super().parse(response, shape)


class _DynamoDBParsers(ResponseParserFactory):
    """The JSON parser of this project's clients: ``parser`` for the DynamoDB protocol."""

    def __init__(self, parser: type[JSONParser] = _ItemsAsSent) -> None:
        super().__init__()
        self._parser = parser

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return self._parser(**self._defaults)  # type: ignore[attr-defined]
        return super().create_parser(protocol_name)


def _client_kwargs(
    settings: Settings, timeout: float, max_attempts: int = 3, validate: bool = True
) -> dict[str, Any]:
    config = Config(
        connect_timeout=min(timeout, 3.0),
        read_timeout=timeout,
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=64,
        parameter_validation=validate,
    )
    kwargs: dict[str, Any] = {"region_name": settings.aws_default_region, "config": config}
    if settings.dynamodb_endpoint_url:
        kwargs["endpoint_url"] = settings.dynamodb_endpoint_url
        # DynamoDB Local accepts any credentials; do not depend on the developer's.
        kwargs["aws_access_key_id"] = "local"
        kwargs["aws_secret_access_key"] = "local"  # noqa: S105
    return kwargs


class _UserAgents:
    """The User-Agent header botocore would build, built once per set of features.

    botocore builds the header twice for every request (when it serialises the request,
    and again on ``request-created``), from the client's fixed description and the
    features the request's context has used (retry mode, paginators, ...): about
    60-200 us of CPU each time, the same string every time for the same features. This
    stands in for the client's ``to_string`` and returns, for each set of features, the
    string botocore built for it the first time.
    """

    def __init__(self, client: Any) -> None:
        self._creator = client._user_agent_creator
        self._build = self._creator.to_string
        self._built: dict[frozenset[str], str] = {}
        self._creator.to_string = self

    def __call__(self) -> str:
        context = get_context()
        features = frozenset(context.features) if context is not None else frozenset()
        features |= self._creator._client_features or frozenset()
        header = self._built.get(features)
        if header is None:
            header = self._built[features] = self._build()
        return header


def _client(
    service: str, kwargs: dict[str, Any], parsers: ResponseParserFactory | None = None
) -> Any:
    session = botocore.session.get_session()
    if parsers is not None:
        session.register_component("response_parser_factory", parsers)
    client = session.create_client(service, **kwargs)
    _UserAgents(client)
    return client


def dynamodb_client(
    settings: Settings, *, timeout: float = 5.0, max_attempts: int = 3, validate: bool = True
) -> DynamoDBClient:
    """One client per execution environment; callers cache it.

    ``max_attempts`` counts botocore's own retries (throttling, 5xx): the read path keeps it
    low, because the tiers in front of it have a deadline and retries of their own.
    ``validate=False`` skips botocore's check of each request against the service model
    before sending it (DynamoDB checks it anyway, and answers ValidationException): for a
    caller whose requests are built by ``to_item`` alone, where walking every attribute of
    an item again is pure cost.
    """
    kwargs = _client_kwargs(settings, timeout, max_attempts, validate)
    client = _client("dynamodb", kwargs, _DynamoDBParsers())
    return cast("DynamoDBClient", client)


def dynamodb_streams_client(settings: Settings, *, timeout: float = 5.0) -> DynamoDBStreamsClient:
    """The streams API of the same endpoint (the local event source mapping reads it),
    answering GetRecords with the records as DynamoDB sent them (``_RecordsAsSent``)."""
    kwargs = _client_kwargs(settings, timeout)
    client = _client("dynamodbstreams", kwargs, _DynamoDBParsers(_RecordsAsSent))
    return cast("DynamoDBStreamsClient", client)


def to_attribute(value: object) -> AttributeValue:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(v) for v in value]}
    if isinstance(value, Mapping):
        return {"M": to_item(value)}
    raise TypeError(f"unsupported attribute type {type(value).__name__}")


def to_item(values: Mapping[str, object]) -> dict[str, AttributeValue]:
    """An item to write. None is left out, so sparse index keys stay absent."""
    return {k: to_attribute(v) for k, v in values.items() if v is not None}


def from_attribute(value: Mapping[str, Any]) -> object:
    if "S" in value:
        return value["S"]
    if "N" in value:
        number = Decimal(value["N"])
        return int(number) if number == number.to_integral_value() else number
    if "NULL" in value:
        return None
    if "BOOL" in value:
        return bool(value["BOOL"])
    if "M" in value:
        return from_item(value["M"])
    if "L" in value:
        return [from_attribute(v) for v in value["L"]]
    # Sets and binary never appear in these tables; keep them visible rather than lose them.
    return dict(value)


def from_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, object]:
    return {k: from_attribute(v) for k, v in item.items()}


BATCH_GET_SIZE = 100  # DynamoDB's BatchGetItem limit
BATCH_GET_ATTEMPTS = 4  # per chunk; UnprocessedKeys are asked again after a backoff


def batch_get(
    client: DynamoDBClient,
    table: str,
    keys: Sequence[Mapping[str, Any]],
    **options: Any,
) -> Iterator[dict[str, Any]]:
    """The raw items at ``keys`` (those that exist), in chunks of BatchGetItem's limit.

    ``options`` go into the table's request as they are (``ConsistentRead``,
    ``ProjectionExpression``, ...). Keys DynamoDB leaves unprocessed are asked again
    after a growing pause; still unprocessed after BATCH_GET_ATTEMPTS, it raises the
    ClientError a throttled call would (ProvisionedThroughputExceededException).
    """
    for start in range(0, len(keys), BATCH_GET_SIZE):
        pending: list[Any] = list(keys[start : start + BATCH_GET_SIZE])
        for attempt in range(BATCH_GET_ATTEMPTS):
            if not pending:
                break
            if attempt:
                time.sleep(0.05 * 2**attempt)
            request: Any = {table: {"Keys": pending, **options}}
            response: dict[str, Any] = client.batch_get_item(  # type: ignore[assignment]
                RequestItems=request
            )
            yield from response.get("Responses", {}).get(table, [])
            pending = list(response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
        if pending:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ProvisionedThroughputExceededException",
                        "Message": "BatchGetItem kept returning UnprocessedKeys",
                    }
                },
                "BatchGetItem",
            )

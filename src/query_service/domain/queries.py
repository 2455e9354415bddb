"""The queries and their validation rules: what each query asks, and how a request becomes one.

Every tier (Query Lambda, ECS handler, Query Result Lambda) validates with these same
queries, so a request refused at one edge is refused at all of them with the same words.
Each query's fields carry their rule (``rules``): that is the one table of what a query
may hold, which the OpenAPI document's schemas are built from too (``ecs/query_schemas.py``).
No pydantic here: the Lambdas import this at cold start.
"""

# No `from __future__ import annotations`: each query's annotations are read when its class
# is made, for the rules of its fields (``rules.Fields``).

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

import orjson

from query_service.domain import rules
from query_service.domain.errors import (
    HEADERS_TOO_LARGE,
    NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    URI_TOO_LONG,
    FieldError,
    Problem,
    invalid,
)
from query_service.domain.records import Platform, Status
from query_service.domain.rules import DEFAULT_LIMIT, DEFAULT_STATS_DAYS, Fields, check_fields

MAX_BODY_BYTES = 16 * 1024
MAX_URL_CHARS = 4096  # path and query string
MAX_HEADER_BYTES = 8 * 1024  # every header name and value


class QueryKind(StrEnum):
    USER = "user"
    FAIL = "fail"
    TX = "tx"
    DELIVERY = "delivery"
    STATS = "stats"


# A field's type and the rule its value is checked by.
Identifier = Annotated[str, rules.IDENTIFIER]
Cursor = Annotated[str, rules.CURSOR]
Limit = Annotated[int, rules.LIMIT]
EpochMs = Annotated[int, rules.EPOCH_MS]
Days = Annotated[int, rules.DAYS]
StatusFilter = Annotated[tuple[Status, ...], rules.STATUSES]
PlatformFilter = Annotated[tuple[Platform, ...], rules.PLATFORMS]


class _Query(Fields):
    kind: ClassVar[QueryKind]

    @classmethod
    def checked(cls, data: Mapping[str, Any]) -> Self:
        """The query ``data`` asks for; a 400 Problem naming each field it got wrong."""
        query = cls.made(check_fields(cls.specs, data))
        query.check_together()
        return query

    def check_together(self) -> None:
        """The rules between fields, checked once each field has passed its own."""

    def normalised(self) -> dict[str, Any]:
        """The body forwarded upstream: defaults applied, absent options left out."""
        found: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if value is not None:
                found[name] = [v.value for v in value] if type(value) is tuple else value
        return found


class _ListQuery(_Query):
    """A query that answers a page of records, newest first, with a cursor to the next."""

    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None

    @property
    def partition(self) -> str:
        """The key value the query reads under (one DynamoDB partition)."""
        raise NotImplementedError

    def scope(self) -> str:
        """What a cursor is bound to: the same query and filters, whatever the page size."""
        fields = self.normalised()
        fields.pop("limit", None)
        fields.pop("cursor", None)
        return f"{self.kind.value}|" + "|".join(f"{k}={v}" for k, v in sorted(fields.items()))

    def filters(self) -> dict[str, tuple[str, ...]]:
        """Attribute → the values a record must have one of (empty: no filter)."""
        found: dict[str, tuple[str, ...]] = {}
        for name in FILTER_FIELDS:
            value = getattr(self, name, None)
            if value is not None:
                values = value if isinstance(value, tuple) else (value,)
                found[name] = tuple(str(v) for v in values)
        return found


class UserQuery(_ListQuery):
    """A user's records, newest first."""

    kind: ClassVar[QueryKind] = QueryKind.USER
    user_id: Identifier
    since: EpochMs | None = None
    until: EpochMs | None = None
    ap_id: Identifier | None = None
    status: StatusFilter | None = None
    platform: PlatformFilter | None = None

    def check_together(self) -> None:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise invalid([FieldError("since", "since must not be later than until")])

    @property
    def partition(self) -> str:
        return self.user_id


class _TransactionQuery(_ListQuery):
    transaction_id: Identifier
    platform: PlatformFilter | None = None

    @property
    def partition(self) -> str:
        return self.transaction_id


class FailQuery(_TransactionQuery):
    """The FAILED deliveries of a transaction, newest first."""

    kind: ClassVar[QueryKind] = QueryKind.FAIL


class TxQuery(_TransactionQuery):
    """Every delivery of a transaction, newest first."""

    kind: ClassVar[QueryKind] = QueryKind.TX
    status: StatusFilter | None = None


class DeliveryQuery(_Query):
    """One delivery (a transaction to a user) with its timeline."""

    kind: ClassVar[QueryKind] = QueryKind.DELIVERY
    transaction_id: Identifier
    user_id: Identifier


class StatsQuery(_Query):
    """A transaction's delivery funnel, or an application's daily counts: give
    transaction_id, or ap_id (with days), never both."""

    kind: ClassVar[QueryKind] = QueryKind.STATS
    transaction_id: Identifier | None = None
    ap_id: Identifier | None = None
    days: Days | None = None

    def check_together(self) -> None:
        if self.transaction_id is not None and self.ap_id is not None:
            raise invalid([FieldError("ap_id", "give transaction_id or ap_id, not both")])
        if self.transaction_id is None and self.ap_id is None:
            raise invalid([FieldError("transaction_id", "is required, or ap_id (with days)")])
        if self.transaction_id is not None and self.days is not None:
            raise invalid([FieldError("days", "goes with ap_id only")])

    def normalised(self) -> dict[str, Any]:
        """The body forwarded upstream: days given for an application, always."""
        if self.ap_id is not None:
            return {"ap_id": self.ap_id, "days": self.days or DEFAULT_STATS_DAYS}
        return {"transaction_id": self.transaction_id}


ListQuery = UserQuery | FailQuery | TxQuery
Query = UserQuery | FailQuery | TxQuery | DeliveryQuery | StatsQuery

QUERY_MODELS: dict[
    QueryKind,
    type[UserQuery] | type[FailQuery] | type[TxQuery] | type[DeliveryQuery] | type[StatsQuery],
] = {
    QueryKind.USER: UserQuery,
    QueryKind.FAIL: FailQuery,
    QueryKind.TX: TxQuery,
    QueryKind.DELIVERY: DeliveryQuery,
    QueryKind.STATS: StatsQuery,
}


_ALL_SPECS = [spec for model in QUERY_MODELS.values() for spec in model.specs]
# Record attributes a list query may filter on (a DynamoDB FilterExpression, bounded reads).
FILTER_FIELDS = ("ap_id", "status", "platform")
# GET: integers arrive as digits; a filter may be repeated, or hold values separated by commas.
_INTEGER_FIELDS = frozenset(s.name for s in _ALL_SPECS if isinstance(s.rule, rules.Integer))
_MULTI_VALUE_FIELDS = frozenset(s.name for s in _ALL_SPECS if isinstance(s.rule, rules.OneOrMore))


def validate_query(kind: QueryKind, data: object) -> Query:
    """Validate an already-decoded request. Raises a 400 Problem naming each bad field."""
    if not isinstance(data, Mapping):
        raise invalid([FieldError("body", "must be a JSON object")])
    return QUERY_MODELS[kind].checked(data)


def parse_query_body(kind: QueryKind, body: bytes | str | None) -> Query:
    """A POST body: at most MAX_BODY_BYTES of JSON holding one object."""
    raw = body.encode() if isinstance(body, str) else (body or b"")
    if len(raw) > MAX_BODY_BYTES:
        raise body_too_large()
    if not raw.strip():
        raise invalid([FieldError("body", "is required: send the query as a JSON object")])
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid([FieldError("body", "is not valid JSON")]) from None
    return validate_query(kind, data)


def parse_query_params(kind: QueryKind, params: Mapping[str, Sequence[str]]) -> Query:
    """A GET query string: each parameter once, except a filter's (repeated, or a,b);
    integers arrive as digits."""
    data: dict[str, object] = {}
    repeated = [
        FieldError(k, "must be given once")
        for k, v in params.items()
        if len(v) > 1 and k not in _MULTI_VALUE_FIELDS
    ]
    if repeated:
        raise invalid(repeated)
    for key, values in params.items():
        if key in _MULTI_VALUE_FIELDS:
            data[key] = [part for v in values for part in v.split(",")]
            continue
        value: object = values[0] if values else ""
        if key in _INTEGER_FIELDS and isinstance(value, str) and value.isascii():
            value = int(value) if value.isdigit() and len(value) <= 16 else value
        data[key] = value
    return validate_query(kind, data)


def check_request_size(url_chars: int, header_bytes: int) -> None:
    """Refuse, before any parsing, a URL or a header block larger than a query needs."""
    if url_chars > MAX_URL_CHARS:
        raise Problem(URI_TOO_LONG, f"The URL is longer than {MAX_URL_CHARS} characters.")
    if header_bytes > MAX_HEADER_BYTES:
        raise Problem(
            HEADERS_TOO_LARGE, f"The request headers are larger than {MAX_HEADER_BYTES} bytes."
        )


def body_too_large() -> Problem:
    return Problem(PAYLOAD_TOO_LARGE, f"The request body is larger than {MAX_BODY_BYTES} bytes.")


def no_delivery(query: DeliveryQuery) -> Problem:
    return Problem(
        NOT_FOUND,
        f"There is no delivery of transaction {query.transaction_id} to user {query.user_id}.",
    )

"""The rules a query's fields follow, in plain Python, with the words a refusal of each uses.

Every tier checks a request with these (``queries``). They are plain Python, not pydantic:
the Lambdas import them at cold start, where pydantic and the models built on it were half
of the Query Lambda's import (bench/RESULTS.md, Cold start). The OpenAPI document's query
schemas are pydantic models built from the same rules (``ecs/query_schemas.py``), and
``tests/unit/test_query_rules.py`` holds the two to the same answers on generated input.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple, Self, dataclass_transform

from query_service.domain.errors import FieldError, invalid
from query_service.domain.records import IDENTIFIER_PATTERN, MAX_EPOCH_MS, Platform, Status

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
DEFAULT_STATS_DAYS = 7
MAX_STATS_DAYS = 90
MAX_CURSOR_CHARS = 2048
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"

IDENTIFIER_RULE = "1-128 characters of letters, digits and _ . : @ -"
NOT_A_STRING = "must be a string"
NOT_AN_INTEGER = "must be an integer"
REQUIRED = "is required"
NOT_A_FIELD = "is not a field of this query"


class Refused(ValueError):
    """A value a rule refuses; the message is what the caller is told of its field."""


class Text(NamedTuple):
    """A string of ``min_length``-``max_length`` characters matching ``pattern``."""

    min_length: int
    max_length: int
    pattern: str
    refusal: str
    description: str

    def check(self, value: object) -> str:
        if not isinstance(value, str):
            raise Refused(NOT_A_STRING)
        if not self.min_length <= len(value) <= self.max_length or not _matches(
            self.pattern, value
        ):
            raise Refused(self.refusal)
        return value


class Integer(NamedTuple):
    """An integer (not a bool, not a float) from ``minimum`` to ``maximum``."""

    minimum: int
    maximum: int
    refusal: str
    description: str

    def check(self, value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Refused(NOT_AN_INTEGER)
        if not self.minimum <= value <= self.maximum:
            raise Refused(self.refusal)
        return value


class OneOrMore(NamedTuple):
    """A filter's values: one string or a list of them, each one of ``values``.

    The result is in ``values``' order and without repeats, so two spellings of one filter
    are one query (and one cursor scope).
    """

    values: type[Status] | type[Platform]
    description: str
    refusal: str
    named: frozenset[str]

    @classmethod
    def of(cls, values: type[Status] | type[Platform], description: str) -> OneOrMore:
        names = [v.value for v in values]
        return cls(
            values, description, f"must be one or more of {', '.join(names)}", frozenset(names)
        )

    def check(self, value: object) -> tuple[Status | Platform, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise Refused(self.refusal)
        for item in items:
            if not isinstance(item, str) or item not in self.named:
                raise Refused(self.refusal)
        return tuple(v for v in self.values if v.value in items)


Rule = Text | Integer | OneOrMore
_COMPILED: dict[str, re.Pattern[str]] = {}


def _matches(pattern: str, value: str) -> bool:
    compiled = _COMPILED.get(pattern)
    if compiled is None:
        compiled = _COMPILED[pattern] = re.compile(pattern)
    return compiled.fullmatch(value) is not None


IDENTIFIER = Text(1, 128, IDENTIFIER_PATTERN, f"must be {IDENTIFIER_RULE}", IDENTIFIER_RULE)
CURSOR = Text(
    3,
    MAX_CURSOR_CHARS,
    CURSOR_PATTERN,
    "is not a cursor this service issued",
    "the next_cursor of the previous page, as this service returned it for "
    "the same query: any other value, even of this pattern, is refused with 400",
)
LIMIT = Integer(1, MAX_LIMIT, f"must be between 1 and {MAX_LIMIT}", f"page size, 1-{MAX_LIMIT}")
EPOCH_MS = Integer(
    0,
    MAX_EPOCH_MS,
    f"must be a millisecond timestamp between 0 and {MAX_EPOCH_MS}",
    "milliseconds since the epoch, inclusive",
)
DAYS = Integer(
    1,
    MAX_STATS_DAYS,
    f"must be between 1 and {MAX_STATS_DAYS}",
    f"with ap_id: UTC days up to today, 1-{MAX_STATS_DAYS} (default {DEFAULT_STATS_DAYS})",
)
STATUSES = OneOrMore.of(
    Status, "only these statuses: one, or several (a list; GET: repeated or a,b)"
)
PLATFORMS = OneOrMore.of(
    Platform, "only these platforms: one, or several (a list; GET: repeated or a,b)"
)

# The default of a field that has none: it must be given.
MISSING: Any = object()


class FieldSpec(NamedTuple):
    """One field of a query: its rule, and its default (None: it may also be given null)."""

    name: str
    rule: Rule
    default: Any = MISSING


def check_fields(specs: tuple[FieldSpec, ...], data: Mapping[str, Any]) -> dict[str, Any]:
    """Each field's checked value, defaults filled in. A 400 Problem otherwise, naming every
    refused field in the fields' order, then each field the query does not have."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    given = 0
    for spec in specs:
        if spec.name not in data:
            if spec.default is MISSING:
                errors.append(FieldError(spec.name, REQUIRED))
            else:
                values[spec.name] = spec.default
            continue
        given += 1
        value = data[spec.name]
        if value is None and spec.default is None:
            values[spec.name] = None
            continue
        try:
            values[spec.name] = spec.rule.check(value)
        except Refused as refused:
            errors.append(FieldError(spec.name, str(refused)))
    if given < len(data):
        known = {spec.name for spec in specs}
        errors.extend(FieldError(str(key), NOT_A_FIELD) for key in data if key not in known)
    if errors:
        raise invalid(errors)
    return values


def _rule(annotation: Any) -> Rule | None:
    """The rule of ``Annotated[T, rule]`` or of ``Annotated[T, rule] | None``; None for
    what is not a field (a ClassVar)."""
    if typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    rule = getattr(annotation, "__metadata__", (None,))[0]
    return rule if isinstance(rule, Text | Integer | OneOrMore) else None


@dataclass_transform(kw_only_default=True, frozen_default=True)
class Fields:
    """Fields that are the class's annotations, each ``Annotated`` with its rule; ``specs``
    lists them, inherited first (the queries are made of these).

    Like a frozen, keyword-only dataclass, without ``dataclass``'s cost at import: it
    compiles each class's methods from source, about 4.5 M instructions a class on
    Python 3.12, and the Lambdas import the queries at every cold start (bench/RESULTS.md).
    """

    specs: ClassVar[tuple[FieldSpec, ...]] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        specs = {spec.name: spec for spec in cls.specs}  # inherited first, in their order
        for name, annotation in inspect.get_annotations(cls).items():
            if (rule := _rule(annotation)) is not None:
                specs[name] = FieldSpec(name, rule, cls.__dict__.get(name, MISSING))
        cls.specs = tuple(specs.values())

    def __init__(self, **values: Any) -> None:
        unknown = values.keys() - {spec.name for spec in self.specs}
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        for spec in self.specs:
            if spec.name not in values and spec.default is MISSING:
                raise TypeError(f"{type(self).__name__} needs {spec.name}")
            self.__dict__[spec.name] = values.get(spec.name, spec.default)

    @classmethod
    def made(cls, values: dict[str, Any]) -> Self:
        """One made of ``values`` as ``check_fields`` returns them: every field, in order."""
        made = cls.__new__(cls)
        made.__dict__.update(values)
        return made

    def replace(self, **changes: Any) -> Self:
        return type(self)(**(self.__dict__ | changes))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({fields})"

"""The queries as pydantic models, for the OpenAPI document only: built from the domain's
query dataclasses and their rules (``domain.rules``), field by field, so the schemas /docs
shows are the rules every tier checks with (``tests/unit/test_query_rules.py`` holds
pydantic's reading of these schemas to the domain's answers)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from query_service.domain import rules
from query_service.domain.queries import QUERY_MODELS, Query, QueryKind
from query_service.domain.rules import FieldSpec


class QuerySchema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _annotation(rule: rules.Rule) -> Any:
    if isinstance(rule, rules.Text):
        constraints = Field(
            min_length=rule.min_length,
            max_length=rule.max_length,
            pattern=rule.pattern,
            description=rule.description,
        )
        return Annotated[str, constraints]
    if isinstance(rule, rules.Integer):
        return Annotated[int, Field(ge=rule.minimum, le=rule.maximum, description=rule.description)]
    one = rule.values
    return Annotated[
        tuple[one, ...],  # type: ignore[valid-type]
        # An empty list filters nothing, and is refused: the schema says so.
        BeforeValidator(rule.check, json_schema_input_type=one | _non_empty_list(one)),
        Field(description=rule.description),
    ]


def _non_empty_list(values: type) -> Any:
    return Annotated[list[values], Field(min_length=1)]  # type: ignore[valid-type]


def _field(spec: FieldSpec) -> tuple[Any, Any]:
    annotation = _annotation(spec.rule)
    if spec.default is rules.MISSING:
        return annotation, ...
    return (annotation | None if spec.default is None else annotation), spec.default


def _schema(model: type[Query]) -> type[QuerySchema]:
    fields = {spec.name: _field(spec) for spec in model.specs}
    return create_model(  # type: ignore[no-any-return, call-overload]
        model.__name__, __base__=QuerySchema, __doc__=model.__doc__, __module__=__name__, **fields
    )


QUERY_SCHEMAS: dict[QueryKind, type[QuerySchema]] = {
    kind: _schema(model) for kind, model in QUERY_MODELS.items()
}

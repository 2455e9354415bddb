"""What the OpenAPI document says beyond the route declarations.

The query paths take their fields in a JSON body (POST) or the query string (GET), each
from the domain's query model; errors are documented as the problem+json they are. The
document is what client generators, API Gateway imports and fuzzers read, so it states
every rule a schema can state: the enums its fields refer to (under components, where a
reader resolves them), and a query string's parameters as the strings they are (never
null). The rules no schema states (a cursor's signature, since <= until, /query/stats' one
scope) are in the descriptions; tests/fuzz_rules.py teaches them to schemathesis.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from query_service.domain.errors import NOT_FOUND, PROBLEM_CONTENT_TYPE, PROBLEMS
from query_service.domain.queries import QueryKind
from query_service.domain.routes import QUERY_ROUTES, REMOVED_ROUTES, QueryRoute
from query_service.ecs.query_schemas import QUERY_SCHEMAS
from query_service.ecs.schemas import ProblemResponse

Schema = dict[str, Any]

# What each problem a query answers means for its caller, beyond the problem's title.
MEANINGS = {
    400: "a field breaks its rule (each named in errors), or the cursor is not one this "
    "service returned for this query",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    p.status: {
        "model": ProblemResponse,
        "description": f"{p.title}: {MEANINGS[p.status]}" if p.status in MEANINGS else p.title,
    }
    for p in PROBLEMS
    if p.status in {400, 413, 414, 431, 502, 503, 504}
}
DELIVERY_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    NOT_FOUND.status: {"model": ProblemResponse, "description": "no such delivery"},
}
COMPONENTS = "#/components/schemas/{model}"
# The paths the public API serves (API Gateway → Query Lambda): the ECS handler's own
# (readiness, the docs, the console) are not reachable through it.
PUBLIC_PATHS = frozenset({"/health", *QUERY_ROUTES, *REMOVED_ROUTES})


def query_schema(kind: QueryKind) -> tuple[Schema, Schema]:
    """The query model's JSON schema, referring to components, and the definitions
    (enums) it refers to, which the document files under components."""
    schema = QUERY_SCHEMAS[kind].model_json_schema(ref_template=COMPONENTS)
    definitions: Schema = schema.pop("$defs", {})
    return schema, definitions


def request_body(route: QueryRoute) -> dict[str, Any]:
    """The POST form: the query model as the required JSON body."""
    schema, _ = query_schema(route.kind)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _not_null(schema: Schema) -> Schema:
    """An optional field's schema without its null branch: a query string has no null, an
    absent parameter is how it leaves a field out."""
    branches = schema.get("anyOf")
    if not branches or {"type": "null"} not in branches:
        return schema
    rest = [b for b in branches if b != {"type": "null"}]
    own = {k: v for k, v in schema.items() if k != "anyOf"}
    return own | rest[0] if len(rest) == 1 else own | {"anyOf": rest}


def query_parameters(route: QueryRoute) -> dict[str, Any]:
    """The GET form: each field of the query model as a query-string parameter."""
    schema, _ = query_schema(route.kind)
    required = set(schema.get("required", []))
    return {
        "parameters": [
            {"name": name, "in": "query", "required": name in required, "schema": _not_null(prop)}
            for name, prop in schema["properties"].items()
        ]
    }


def complete_document(app: FastAPI) -> None:
    """What FastAPI's own document lacks: errors served as application/problem+json, and
    the query models' definitions under components.

    FastAPI files every response model under ``application/json``; a client generated from
    the document (or a fuzzer checking answers against it) must see the type we send.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for operation in (op for path in document["paths"].values() for op in path.values()):
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[0] in "45" and "application/json" in content:
                        content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for kind in QueryKind:
                for name, definition in query_schema(kind)[1].items():
                    schemas.setdefault(name, definition)
            document["components"]["schemas"] = dict(sorted(schemas.items()))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def public_document(document: Schema) -> Schema:
    """The public API's document (what a client of API Gateway may call): the ECS
    handler's, without the paths only the handler serves."""
    paths = {path: item for path, item in document["paths"].items() if path in PUBLIC_PATHS}
    return document | {
        "info": document["info"] | {"description": "Push-notification record queries."},
        "paths": paths,
    }

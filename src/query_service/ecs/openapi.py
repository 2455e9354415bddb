"""What the OpenAPI document says beyond the route declarations.

The query paths take their fields in a JSON body (POST) or the query string (GET), each
from the domain's query model; errors are documented as the problem+json they are.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from query_service.domain.errors import NOT_FOUND, PROBLEM_CONTENT_TYPE, PROBLEMS
from query_service.domain.queries import QUERY_MODELS
from query_service.domain.routes import QueryRoute
from query_service.ecs.schemas import ProblemResponse

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    p.status: {"model": ProblemResponse, "description": p.title}
    for p in PROBLEMS
    if p.status in {400, 413, 414, 431, 502, 503, 504}
}
DELIVERY_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    NOT_FOUND.status: {"model": ProblemResponse, "description": "no such delivery"},
}


def request_body(route: QueryRoute) -> dict[str, Any]:
    """The POST form: the query model as the required JSON body."""
    schema = QUERY_MODELS[route.kind].model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def query_parameters(route: QueryRoute) -> dict[str, Any]:
    """The GET form: each field of the query model as a query-string parameter."""
    schema = QUERY_MODELS[route.kind].model_json_schema()
    required = set(schema.get("required", []))
    return {
        "parameters": [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema["properties"].items()
        ]
    }


def document_problems_as_problem_json(app: FastAPI) -> None:
    """Error responses are served as application/problem+json; say so in the OpenAPI.

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
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

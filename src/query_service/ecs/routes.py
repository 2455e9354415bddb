"""The route factory: each query path and each removed path, in both its forms."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from query_service.domain.queries import (
    MAX_BODY_BYTES,
    QUERY_MODELS,
    Query,
    QueryRoute,
    body_too_large,
    parse_query_body,
    parse_query_params,
    removed,
)
from query_service.ecs.internal_client import InternalApiClient
from query_service.ecs.openapi import PROBLEM_RESPONSES, query_parameters, request_body
from query_service.ecs.schemas import ProblemResponse, QueryResponse
from query_service.logs import request_id_var


async def get_client(request: Request) -> InternalApiClient:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a hop
    per request that was among the heaviest entries of the handler's profile (make bench)."""
    client: InternalApiClient = request.app.state.internal_client
    return client


InternalClient = Annotated[InternalApiClient, Depends(get_client)]


async def read_body(request: Request) -> bytes:
    """The request body, refusing (413) past MAX_BODY_BYTES without reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise body_too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise body_too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def answer(
    route: QueryRoute, query: Query, client: InternalApiClient, request: Request
) -> Response:
    result = await client.query(query, request_id_var.get() or "")
    request.state.upstream_ms = round(result.upstream_ms, 2)
    count = len(result.records)
    body = {
        "success": True,
        "data": result.records,
        "total_count": count,
        "next_cursor": result.next_cursor,
        "message": f"Found {count} record{'s' if count != 1 else ''}"
        + (", more with next_cursor" if result.next_cursor else ""),
    }
    return Response(orjson.dumps(body), 200, route.deprecation_headers, "application/json")


def add_query_route(app: FastAPI, route: QueryRoute) -> None:
    model = QUERY_MODELS[route.kind]
    summary = (model.__doc__ or "").strip()

    async def post_query(request: Request, client: InternalClient) -> Response:
        query = parse_query_body(route.kind, await read_body(request))
        return await answer(route, query, client, request)

    async def get_query(request: Request, client: InternalClient) -> Response:
        params: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            params.setdefault(key, []).append(value)
        return await answer(route, parse_query_params(route.kind, params), client, request)

    name = route.path.strip("/").replace("/", "_")
    forms: tuple[tuple[str, Any, dict[str, Any]], ...] = (
        ("POST", post_query, request_body(route)),
        ("GET", get_query, query_parameters(route)),
    )
    for method, endpoint, openapi_extra in forms:
        app.add_api_route(
            route.path,
            endpoint,
            methods=[method],
            name=f"{method.lower()}_{name}",
            summary=summary,
            response_model=QueryResponse,
            openapi_extra=openapi_extra,
            deprecated=route.successor is not None,
            responses=PROBLEM_RESPONSES,
        )


def add_removed_route(app: FastAPI, path: str) -> None:
    async def removed_query() -> Response:
        raise removed(path)

    for method in ("GET", "POST"):
        app.add_api_route(
            path,
            removed_query,
            methods=[method],
            deprecated=True,
            status_code=410,  # what the OpenAPI names as its answer (it never answers 200)
            summary="Removed: answers 410 Gone",
            responses={410: {"model": ProblemResponse, "description": "the query was removed"}},
            name=f"removed_{method.lower()}_{path.strip('/').replace('/', '_')}",
        )

"""The route factory: each query path and each removed path, in both its forms."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from query_service.domain.queries import QueryKind
from query_service.domain.routes import QueryRoute, removed
from query_service.ecs.internal_client import InternalApiClient
from query_service.ecs.openapi import (
    DELIVERY_PROBLEM_RESPONSES,
    PROBLEM_RESPONSES,
    query_parameters,
    request_body,
)
from query_service.ecs.query_path import QueryEndpoint
from query_service.ecs.query_schemas import QUERY_SCHEMAS
from query_service.ecs.schemas import (
    DeliveryResponse,
    ProblemResponse,
    QueryResponse,
    StatsResponse,
)

# What a query answers when it is not a page of records.
RESPONSE_MODELS: dict[QueryKind, type[BaseModel]] = {
    QueryKind.DELIVERY: DeliveryResponse,
    QueryKind.STATS: StatsResponse,
}


async def get_client(request: Request) -> InternalApiClient:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a hop
    per request that was among the heaviest entries of the handler's profile (make bench)."""
    client: InternalApiClient = request.app.state.internal_client
    return client


InternalClient = Annotated[InternalApiClient, Depends(get_client)]


def add_query_route(app: FastAPI, route: QueryRoute, endpoint: QueryEndpoint) -> None:
    """Declare ``route`` (POST and GET) for the OpenAPI document; ``endpoint`` serves it.

    FastAPI reads each route's declaration (summary, request body, parameters, response
    model and problems) for /openapi.json and answers other methods with 405. GET and POST
    are answered by ``QueryPaths`` ahead of the router; should one reach the route, its
    ASGI app is the same ``endpoint``, never FastAPI's dependency solving.
    """
    model = QUERY_SCHEMAS[route.kind]
    summary = (model.__doc__ or "").strip()
    name = route.path.strip("/").replace("/", "_")
    delivery = route.kind is QueryKind.DELIVERY
    for method, openapi_extra in (("POST", request_body(route)), ("GET", query_parameters(route))):
        app.add_api_route(
            route.path,
            _declaration,
            methods=[method],
            name=f"{method.lower()}_{name}",
            summary=summary,
            response_model=RESPONSE_MODELS.get(route.kind, QueryResponse),
            openapi_extra=openapi_extra,
            deprecated=route.successor is not None,
            responses=DELIVERY_PROBLEM_RESPONSES if delivery else PROBLEM_RESPONSES,
        )
        declared = app.router.routes[-1]
        if not isinstance(declared, APIRoute) or declared.path != route.path:
            raise RuntimeError(f"FastAPI did not append the route of {route.path}")
        declared.app = endpoint


async def _declaration() -> None:
    # No docstring: FastAPI would make it the operations' description.
    raise NotImplementedError("the route's ASGI app serves it")


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

"""The query paths, served as plain ASGI: the ECS handler's hot path (issue 12 item 7).

FastAPI declares the query routes, so the OpenAPI document and /docs come from the same
declarations as before; the requests themselves are served here, without FastAPI's
per-request work (routing through every route, solving dependencies, building a Request
and a Response), which was most of the handler's CPU per request (make bench, profile).
The validation, the record checks and the problems answered are the domain's, the same
that every other tier uses.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import parse_qsl

import orjson
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from query_service.deadlines import caller_deadline
from query_service.domain.errors import Problem
from query_service.domain.queries import (
    MAX_BODY_BYTES,
    DeliveryQuery,
    Query,
    StatsQuery,
    body_too_large,
    no_delivery,
    parse_query_body,
    parse_query_params,
)
from query_service.domain.routes import QueryRoute
from query_service.ecs.internal_client import InternalApiClient, QueryResult
from query_service.ecs.middleware import Incoming, log_request
from query_service.ecs.problems import problem_response, unexpected_error
from query_service.logs import request_id_var

JSON = (b"content-type", b"application/json")


class ClientGone(Exception):
    """The client disconnected before its request body arrived: nobody to answer."""


async def read_body(receive: Receive, content_length: bytes | None) -> bytes:
    """The request body, refusing (413) past MAX_BODY_BYTES without reading it all."""
    if (
        content_length is not None
        and content_length.isdigit()
        and int(content_length) > MAX_BODY_BYTES
    ):
        raise body_too_large()
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise body_too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def query_params(scope: Scope) -> dict[str, list[str]]:
    """The query string as Starlette reads it (latin-1, blank values kept), by name."""
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
        params.setdefault(key, []).append(value)
    return params


def stats_body(query: StatsQuery, result: QueryResult) -> bytes:
    """A statistics answer: the counts the internal API gave, checked by the client
    (a stats query's result always has them: an answer without is garbage, retried and
    reported as such by the client's one loop)."""
    scope = (
        f"transaction {query.transaction_id}"
        if query.transaction_id is not None
        else f"{query.ap_id}, the last {query.normalised()['days']} days"
    )
    return orjson.dumps(
        {"success": True, "data": result.stats, "message": f"Statistics of {scope}"}
    )


def answer_body(result: QueryResult) -> bytes:
    """``orjson.dumps`` of the answer (success, data, total_count, next_cursor, message),
    written around the records' JSON as the page check keeps it (``ecs.page.Records``)."""
    count = result.page.count
    message = f"Found {count} record{'s' if count != 1 else ''}" + (
        ", more with next_cursor" if result.next_cursor else ""
    )
    return b"".join(
        (
            b'{"success":true,"data":[',
            result.page.json(),
            b'],"total_count":',
            str(count).encode(),
            b',"next_cursor":',
            orjson.dumps(result.next_cursor),
            b',"message":',
            orjson.dumps(message),
            b"}",
        )
    )


class QueryEndpoint:
    """One query path, GET (query string) and POST (JSON body), as an ASGI app with its own
    request context (``middleware``): the same id, limits and log line as every request.

    ``state`` is the application's: its lifespan puts the pooled client there.
    """

    def __init__(self, route: QueryRoute, state: State) -> None:
        self.route = route
        self.state = state
        self.headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in route.deprecation_headers.items()
        ]

    def query(self, scope: Scope, body: bytes) -> Query:
        if scope["method"] == "POST":
            return parse_query_body(self.route.kind, body)
        return parse_query_params(self.route.kind, query_params(scope))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        incoming = Incoming.read(scope)
        token = request_id_var.set(incoming.request_id)
        status, upstream_ms = 500, None
        try:
            if incoming.oversized is not None:
                status = await self.problem(incoming.oversized, incoming, scope, receive, send)
            else:
                status, upstream_ms = await self.serve(incoming, scope, receive, send)
        finally:
            log_request(scope, status, started, upstream_ms)
            request_id_var.reset(token)

    async def serve(
        self, incoming: Incoming, scope: Scope, receive: Receive, send: Send
    ) -> tuple[int, float | None]:
        """Answer the query; the status sent (500 if none) and the upstream's time."""
        client: InternalApiClient = self.state.internal_client
        try:
            post = scope["method"] == "POST"
            body = await read_body(receive, incoming.content_length) if post else b""
            query = self.query(scope, body)
            within = caller_deadline(incoming.deadline)  # the Query Lambda's, if it sent one
            result = await client.query(query, incoming.request_id, within)
            if isinstance(query, DeliveryQuery) and not result.page.count:
                raise no_delivery(query)
            payload = (
                stats_body(query, result) if isinstance(query, StatsQuery) else answer_body(result)
            )
        except Problem as problem:
            return await self.problem(problem, incoming, scope, receive, send), None
        except ClientGone:
            return 500, None
        except Exception:  # noqa: BLE001 - logged with its traceback, answered as a 500 problem
            await unexpected_error(request_id_header(incoming))(scope, receive, send)
            return 500, None
        headers = [
            *self.headers,
            (b"content-length", str(len(payload)).encode()),
            JSON,
            (b"x-request-id", incoming.request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        return 200, round(result.upstream_ms, 2)

    @staticmethod
    async def problem(
        problem: Problem, incoming: Incoming, scope: Scope, receive: Receive, send: Send
    ) -> int:
        await problem_response(problem, request_id_header(incoming))(scope, receive, send)
        return problem.status


def request_id_header(incoming: Incoming) -> dict[str, str]:
    return {"x-request-id": incoming.request_id}


class QueryPaths:
    """GET and POST on a query path go straight to its QueryEndpoint; every other request
    (health, docs, removed and unknown paths, other methods) to ``app``: FastAPI's stack
    inside the request context middleware."""

    def __init__(self, app: ASGIApp, endpoints: Mapping[str, QueryEndpoint]) -> None:
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoints.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None or scope["method"] not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        await endpoint(scope, receive, send)

"""A local API Gateway (REST API, Lambda proxy integration, payload format 1.0).

It turns an HTTP request into the proxy event API Gateway sends, runs the Lambda handler
in a worker thread as a warm execution environment would, and turns the result back into
HTTP, with API Gateway's own answers where the real one gives them: 403 "Missing
Authentication Token" for a path no resource matches, 502 "Internal server error" when
the handler raises or returns something that is not a proxy response, 504 when it runs
past the integration timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from query_service.local.lambda_runtime import LambdaContext
from query_service.local.proxy_integration import MalformedProxyResponse, build_event, to_response
from query_service.logs import log_fields

log = logging.getLogger("query_service.gateway")

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload quota
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True, slots=True)
class Resource:
    """An API resource with its method, e.g. ``Resource("POST", "/query/{kind}")``."""

    method: str
    path: str

    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", self.path)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        return re.compile(f"^{regex}$")


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    name: str
    handler: str  # "module:function"
    resources: tuple[Resource, ...]
    stage: str = "v1"
    timeout: float = 29.0
    concurrency: int = 64
    function_name: str = ""


PUBLIC = GatewaySpec(
    "public",
    "query_service.lambdas.query_entry:lambda_handler",
    (Resource("ANY", "/"), Resource("ANY", "/{proxy+}")),
    function_name="query-service-query-entry",
)
INTERNAL = GatewaySpec(
    "internal",
    "query_service.lambdas.query_result:lambda_handler",
    (Resource("POST", "/query/{kind}"), Resource("GET", "/health")),
    function_name="query-service-query-result",
)
GATEWAYS = {g.name: g for g in (PUBLIC, INTERNAL)}


def _load(handler: str) -> Handler:
    module, _, name = handler.partition(":")
    fn: Handler = getattr(importlib.import_module(module), name)
    return fn


def _gateway_error(status: int, message: str, request_id: str, kind: str = "") -> Response:
    headers = {"x-amzn-RequestId": request_id}
    if kind:
        headers["x-amzn-ErrorType"] = kind
    return Response(orjson.dumps({"message": message}), status, headers, "application/json")


class GatewayApp:
    """The ASGI app standing for one REST API stage."""

    def __init__(self, spec: GatewaySpec, handler: Handler | None = None) -> None:
        self.spec = spec
        self._handler = handler
        self._routes = sorted(
            ((r, r.pattern()) for r in spec.resources),
            key=lambda rp: ("+" in rp[0].path, -len(rp[0].path)),
        )
        self._pool = ThreadPoolExecutor(spec.concurrency, thread_name_prefix=spec.name)

    @property
    def handler(self) -> Handler:
        if self._handler is None:
            self._handler = _load(self.spec.handler)
        return self._handler

    def match(self, method: str, path: str) -> tuple[Resource, dict[str, str]] | None:
        for resource, pattern in self._routes:
            found = pattern.match(path)
            if found and resource.method in {"ANY", method}:
                return resource, found.groupdict()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    _ = self.handler  # import the function now, as Lambda's init phase does
                except Exception:
                    log.exception("handler failed to load", extra={"tier": self.tier})
                    await send({"type": "lifespan.startup.failed", "message": "init failed"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._pool.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    @property
    def tier(self) -> str:
        return f"gateway_{self.spec.name}"

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        response = await self._handle(request, request_id)
        log_fields(
            log,
            logging.INFO,
            "integration",
            {
                "tier": self.tier,
                "method": request.method,
                "route": request.url.path,
                "status": response.status_code,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                "apigw_request_id": request_id,
                "request_id": request.headers.get("x-request-id")
                or response.headers.get("x-request-id"),
            },
        )
        return response

    async def _handle(self, request: Request, request_id: str) -> Response:
        matched = self.match(request.method, request.url.path)
        if matched is None:
            return _gateway_error(
                403,
                "Missing Authentication Token",
                request_id,
                "MissingAuthenticationTokenException",
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
            return _gateway_error(413, "Request Too Long", request_id)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_PAYLOAD_BYTES:
                return _gateway_error(413, "Request Too Long", request_id)
        resource, path_parameters = matched
        event = build_event(
            request, resource.path, path_parameters, body, request_id, self.spec.stage
        )
        context = LambdaContext(
            self.spec.function_name or self.spec.name,
            request_id,
            time.monotonic() + self.spec.timeout,
        )
        loop = asyncio.get_running_loop()
        try:
            result = await asyncio.wait_for(
                loop.run_in_executor(self._pool, self.handler, event, context), self.spec.timeout
            )
        except TimeoutError:
            log.error(
                "integration timed out", extra={"tier": self.tier, "timeout_s": self.spec.timeout}
            )
            return _gateway_error(504, "Endpoint request timed out", request_id)
        except Exception:
            log.exception("Lambda function raised", extra={"tier": self.tier})
            return _gateway_error(502, "Internal server error", request_id)
        try:
            return to_response(result, request_id)
        except MalformedProxyResponse as exc:
            log.error(
                "malformed Lambda proxy response", extra={"tier": self.tier, "reason": str(exc)}
            )
            return _gateway_error(502, "Internal server error", request_id)


def serve(spec: GatewaySpec, host: str, port: int, timeout: float | None = None) -> None:
    """Run one gateway until interrupted (the stack runner starts one process per gateway)."""
    import uvicorn

    from query_service.logs import configure_logging

    configure_logging(f"gateway_{spec.name}")
    if timeout is not None:
        spec = dataclasses.replace(spec, timeout=timeout)
    uvicorn.run(
        GatewayApp(spec),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        lifespan="on",
    )

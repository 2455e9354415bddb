"""What both API Lambdas answer through: Powertools' REST resolver, and one invocation's
request id, problem answers, request log line and metrics (ARCHITECTURE §3, §4).

A route returns an ``Answer``: the response, with the figures the invocation reports
(``metrics`` published as EMF counts, ``logged`` on the request line). Nothing passes them
around beside the response.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from query_service.config import Settings, Tier, get_settings
from query_service.deadlines import ANSWER_RESERVE_S, DEADLINE_HEADER, caller_deadline
from query_service.domain.errors import PROBLEM_CONTENT_TYPE, Problem
from query_service.domain.routes import route_label
from query_service.logs import accept_request_id, configure_logging, log_fields, request_id_var
from query_service.metrics import publish, status_counts


class Answer(Response[str]):
    """A response, and the figures the invocation reports with it."""

    def __init__(
        self,
        status: int,
        body: Mapping[str, Any] | str,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str = "application/json",
        metrics: Mapping[str, int] | None = None,
        logged: Mapping[str, object] | None = None,
    ) -> None:
        text = body if isinstance(body, str) else orjson.dumps(body).decode()
        super().__init__(status, content_type, text, dict(headers or {}))
        self.metrics = dict(metrics or {})
        self.logged = dict(logged or {})


def problem_answer(problem: Problem, **logged: object) -> Answer:
    return Answer(
        problem.status,
        problem.body(request_id_var.get()),
        problem.headers,
        content_type=PROBLEM_CONTENT_TYPE,
        logged=logged,
    )


def request_body(event: APIGatewayProxyEvent) -> bytes:
    """The body as sent, whether API Gateway passed it as text or base64-encoded (as it
    does whenever the API declares binary media types)."""
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            return b"\xff"  # undecodable: parsing it fails as malformed JSON, a 400
    return body.encode()


class _Invocation(threading.local):
    """What Powertools keeps of the invocation in hand, one per thread."""

    event: APIGatewayProxyEvent
    lambda_context: LambdaContext

    def __init__(self) -> None:
        self.context: dict[str, Any] = {}
        self.deadline = float("inf")  # time.monotonic() by which the caller wants an answer


def _per_thread(name: str) -> Any:
    """An attribute of the resolver kept in its ``_Invocation``, one per thread."""
    return property(
        lambda self: getattr(self._invocation, name),
        lambda self, value: setattr(self._invocation, name, value),
    )


class Resolver(APIGatewayRestResolver):
    """Powertools' REST resolver, whose per-invocation state belongs to the calling thread.

    Powertools keeps the current event on the ``BaseRouter`` class and the route in one
    dict: right on Lambda, where an execution environment runs one invocation at a time,
    but the local gateway runs a function in many threads at once, and there answers got
    each other's bodies (1,991 of 2,000 in a 16-thread check of a route that read the event
    after a 1 ms wait).
    """

    def __init__(self, tier: Tier, service: str) -> None:
        self._invocation = _Invocation()
        super().__init__()
        self.tier = tier
        self.service = service  # the metrics' service dimension, e.g. "query-entry"
        configure_logging(tier, get_settings().log_level)
        self.log = logging.getLogger(f"query_service.lambdas.{tier}")

        # Powertools inspects a middleware's signature (get_type_hints, a dependency tree)
        # once and keeps the result on the callable; a bound method cannot hold it, so given
        # self._observe it inspected it again on every request (about 0.3 ms each).
        def observe(
            app: APIGatewayRestResolver, next_middleware: Callable[..., Response[str]]
        ) -> Response[str]:
            return self._observe(app, next_middleware)

        self.use([observe])

    def settings(self) -> Settings:
        """The settings, refused (ConfigError) where they are only right on a laptop."""
        settings = get_settings()
        settings.check_production(self.tier)
        return settings

    current_event = _per_thread("event")
    lambda_context = _per_thread("lambda_context")
    context = _per_thread("context")

    def remaining(self) -> float:
        """Seconds this invocation may still spend: the smaller of what its caller's
        X-Request-Deadline-Ms said and the Lambda's own remaining time, less the time it
        needs to answer."""
        return self._invocation.deadline - time.monotonic()

    def _start_deadline(self, event: APIGatewayProxyEvent) -> None:
        left = [caller_deadline(event.headers.get(DEADLINE_HEADER))]
        own_ms = getattr(self.lambda_context, "get_remaining_time_in_millis", None)
        if own_ms is not None:  # a call cut at the Lambda's own end would get no answer out
            left.append(own_ms() / 1000 - ANSWER_RESERVE_S)
        known = [s for s in left if s is not None]
        self._invocation.deadline = time.monotonic() + min(known, default=float("inf"))

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        """The proxy response, its single-valued headers under ``headers`` (Powertools
        puts every header in ``multiValueHeaders``; API Gateway takes both)."""
        self.current_event = APIGatewayProxyEvent(dict(event))
        self.lambda_context = context
        response = super().resolve(event, context)
        multi = response.pop("multiValueHeaders", None) or {}
        response["headers"] = {k: v[0] for k, v in multi.items() if len(v) == 1}
        if several := {k: v for k, v in multi.items() if len(v) > 1}:
            response["multiValueHeaders"] = several
        return response

    def _observe(
        self, app: APIGatewayRestResolver, next_middleware: Callable[..., Response[str]]
    ) -> Response[str]:
        """The request id in and out, problems as problem+json, one request line and one
        EMF line per invocation, with the figures the route answered with."""
        event = self.current_event
        fallback = (event.get("requestContext") or {}).get("requestId")
        request_id = accept_request_id(event.headers.get("x-request-id") or fallback)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            try:
                self._start_deadline(event)
                response = next_middleware(app)
            except Problem as problem:
                if problem.status >= 500:
                    self.log.error(
                        "request failed", extra={"status": problem.status, "detail": problem.detail}
                    )
                response = problem_answer(problem)
            response.headers["X-Request-ID"] = request_id
            latency_ms = (time.perf_counter() - started) * 1000
            answer = response if isinstance(response, Answer) else None
            log_fields(
                self.log,
                logging.INFO,
                "request",
                {
                    "method": event.http_method,
                    "route": event.path,
                    "status": response.status_code,
                    "latency_ms": round(latency_ms, 2),
                    **(answer.logged if answer else {}),
                },
            )
            publish(
                self.service,
                route_label(event.path or "/"),
                latency_ms=latency_ms,
                counts=status_counts(response.status_code) | (answer.metrics if answer else {}),
                request_id=request_id,
            )
            return response
        finally:
            request_id_var.reset(token)

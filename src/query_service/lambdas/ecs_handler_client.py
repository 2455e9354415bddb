"""The Query Lambda's client of the ECS handler (ARCHITECTURE §1).

One urllib3 pool for the life of the execution environment, which warm invocations reuse.
This module keeps only the I/O: deadline, retries, circuit breaking and what each failure
means follow ``query_service.upstream``, as in the ECS handler's own client.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import urllib3

from query_service.deadlines import DEADLINE_HEADER, deadline_header
from query_service.resilience import outcome_of_status
from query_service.upstream import Attempted, ErrorTable, Failure, UpstreamClient, json_body

log = logging.getLogger("query_service.lambdas.query_entry")

URLLIB3_ERRORS: ErrorTable = (
    # NewConnectionError subclasses ConnectTimeoutError: it comes first.
    (urllib3.exceptions.NewConnectionError, Failure.UNREACHABLE),
    (urllib3.exceptions.ConnectTimeoutError, Failure.CONNECT_TIMED_OUT),
    (urllib3.exceptions.TimeoutError, Failure.TIMED_OUT),
    (urllib3.exceptions.HTTPError, Failure.BROKEN),
)
# Headers of the ECS handler's answer that mean something to the caller.
RELAYED_HEADERS = ("Deprecation", "Link", "Retry-After")
# An answer of the ECS handler as the Lambda proxy response that relays it.
ProxyResponse = dict[str, Any]


class EcsHandlerClient(UpstreamClient):
    """Calls the ECS handler within one deadline, with safe retries and a circuit breaker."""

    name, service, errors, log = "ECS handler", "query service", URLLIB3_ERRORS, log

    def __init__(self, base_url: str, timeout: float, **resilience: Any) -> None:
        super().__init__(base_url, timeout, **resilience)
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=16, retries=False)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None,
        request_id: str,
        within: float | None = None,
    ) -> ProxyResponse:
        """The ECS handler's answer (its own problems included) as a proxy response, within
        ``within`` seconds if the caller waits less than REQUEST_TIMEOUT; a failure to get
        one is raised as the Problem the caller gets instead."""
        call = self.start_call(within)
        for total, connect in call.attempts():
            if wait := call.settle(*self._attempt(method, path, body, request_id, total, connect)):
                time.sleep(wait)
        answer: ProxyResponse = call.result()
        return answer

    def _attempt(
        self,
        method: str,
        path: str,
        body: bytes | None,
        request_id: str,
        total: float,
        connect: float,
    ) -> Attempted[ProxyResponse]:
        headers = {"X-Request-ID": request_id, DEADLINE_HEADER: deadline_header(total)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        timeout = urllib3.Timeout(total=total, connect=connect)
        try:
            response = self.pool.request(
                method, self.base_url + path, body=body, headers=headers, timeout=timeout
            )
        except self.exceptions as exc:
            return self.failed(exc, total, connect)
        return self._answer(response)

    def _answer(self, response: urllib3.BaseHTTPResponse) -> Attempted[ProxyResponse]:
        status, retry_after = response.status, response.headers.get("Retry-After")
        content_type = response.headers.get("Content-Type", "")
        parsed = json_body(content_type, response.data)
        if parsed is None or (status >= 400 and not self.relayable(parsed, status)):
            return self.not_our_api(status, retry_after, content_type=content_type[:80])
        headers = {h: response.headers[h] for h in RELAYED_HEADERS if h in response.headers}
        headers["Content-Type"] = content_type
        answer = {"statusCode": status, "headers": headers, "body": response.data.decode()}
        return outcome_of_status(status, retry_after), answer

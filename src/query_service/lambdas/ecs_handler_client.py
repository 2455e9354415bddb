"""The Query Lambda's client of the ECS handler (ARCHITECTURE §1).

Python's own ``http.client``, its kept-alive connections kept for the life of the execution
environment, which warm invocations reuse: Lambda runs one invocation at a time in an
environment, so there is one connection; the local gateway runs many at once, and each takes
an idle one or opens its own. Not urllib3, which cost about a quarter of the Lambda's cold
start (its import, and importlib.metadata for its HTTP/2 probe) for one host.

This module keeps only the I/O: deadline, retries, circuit breaking and what each failure
means follow ``query_service.upstream``, as in the ECS handler's own client.
"""

from __future__ import annotations

import http.client
import logging
import select
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from query_service.deadlines import DEADLINE_HEADER, deadline_header
from query_service.resilience import outcome_of_status
from query_service.upstream import Attempted, ErrorTable, Failure, UpstreamClient, json_body

log = logging.getLogger("query_service.lambdas.query_entry")


class ConnectTimedOut(Exception):
    """No connection within the connect timeout: no request was sent."""


class Unreachable(Exception):
    """The connection was refused, or the host could not be resolved or reached."""


HTTP_CLIENT_ERRORS: ErrorTable = (
    (ConnectTimedOut, Failure.CONNECT_TIMED_OUT),
    (Unreachable, Failure.UNREACHABLE),
    (TimeoutError, Failure.TIMED_OUT),  # connected, but the answer did not come in time
    (http.client.HTTPException, Failure.BROKEN),  # e.g. RemoteDisconnected, IncompleteRead
    (OSError, Failure.BROKEN),  # e.g. a reset connection
)
# Headers of the ECS handler's answer that mean something to the caller.
RELAYED_HEADERS = ("Deprecation", "Link", "Retry-After")
# An answer of the ECS handler as the Lambda proxy response that relays it.
ProxyResponse = dict[str, Any]
MAX_IDLE = 16  # connections kept for reuse; more at once are closed after their answer


class EcsHandlerClient(UpstreamClient):
    """Calls the ECS handler within one deadline, with safe retries and a circuit breaker."""

    name, service, errors, log = "ECS handler", "query service", HTTP_CLIENT_ERRORS, log

    def __init__(self, base_url: str, timeout: float, **resilience: Any) -> None:
        super().__init__(base_url, timeout, **resilience)
        url = urlsplit(self.base_url)
        if url.scheme not in {"http", "https"} or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._connection_class = (
            http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        )
        self._host, self._port, self._prefix = url.hostname, url.port, url.path
        self._idle: deque[http.client.HTTPConnection] = deque()  # append and pop: thread-safe

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

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()

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
        deadline = time.monotonic() + total
        connection: http.client.HTTPConnection | None = None
        try:
            connection = self._connection(min(connect, total))
            # The rest of the attempt's time for each send and receive.
            connection.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            connection.request(method, self._prefix + path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except self.exceptions as exc:
            if connection is not None:
                connection.close()
            return self.failed(exc, total, connect)
        if response.will_close or len(self._idle) >= MAX_IDLE:
            connection.close()
        else:
            self._idle.append(connection)
        return self._answer(response, data)

    def _connection(self, connect_timeout: float) -> http.client.HTTPConnection:
        """An idle connection the ECS handler has not closed meanwhile, else a new one."""
        while self._idle:
            try:
                connection = self._idle.pop()
            except IndexError:  # another thread took the last one
                break
            if not _dropped(connection):
                return connection
            connection.close()
        connection = self._connection_class(self._host, self._port, timeout=connect_timeout)
        try:
            connection.connect()
        except TimeoutError as exc:
            raise ConnectTimedOut(str(exc)) from exc
        except OSError as exc:
            raise Unreachable(str(exc)) from exc
        return connection

    def _answer(self, response: http.client.HTTPResponse, data: bytes) -> Attempted[ProxyResponse]:
        status, retry_after = response.status, response.getheader("Retry-After")
        content_type = response.getheader("Content-Type", "")
        parsed = json_body(content_type, data)
        if parsed is None or (status >= 400 and not self.relayable(parsed, status)):
            return self.not_our_api(status, retry_after, content_type=content_type[:80])
        headers = {h: value for h in RELAYED_HEADERS if (value := response.getheader(h))}
        headers["Content-Type"] = content_type
        answer = {"statusCode": status, "headers": headers, "body": data.decode()}
        return outcome_of_status(status, retry_after), answer


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle kept-alive connection is unusable: closed, or readable although no
    request is in flight (the peer closed it, or sent what nobody asked for)."""
    if connection.sock is None:
        return True
    poller = select.poll()
    poller.register(connection.sock, select.POLLIN)
    return bool(poller.poll(0))

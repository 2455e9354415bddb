"""Test doubles that behave: a real HTTP server on a loopback port, scripted per test."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from tests.harness import free_port as free_port


def reset_cached_factories() -> None:
    """Forget what the product's cached factories made (settings, clients, repositories),
    so that the next call builds them from the environment the test set."""
    for name, module in list(sys.modules.items()):
        if name != "query_service" and not name.startswith("query_service."):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                clear()


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict[str, Any] | list[Any] | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"
    # Held: answered only once this is set (or after 30 s), so a test can tell whether its
    # client gave up first without timing it.
    until: threading.Event | None = None
    # Close the connection after answering without saying so (no "Connection: close"), as
    # a server does with a kept-alive connection once its idle timeout passes.
    hang_up: bool = False


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class StubServer:
    """Answers every request with ``self.reply(seen)``; records what it saw, and counts the
    connections its clients opened."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.connections = 0
        self.closed = threading.Semaphore(0)  # released as each connection is closed
        self.reply: Callable[[Seen], Reply] = lambda _: Reply(200, {})
        stub = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:  # once per connection, however many requests it carries
                super().setup()
                with lock:
                    stub.connections += 1

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                seen = Seen(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                stub.seen.append(seen)
                reply = stub.reply(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.until is not None:
                    reply.until.wait(30)
                body = reply.body
                raw = (
                    orjson.dumps(body)
                    if isinstance(body, dict | list)
                    else (body.encode() if isinstance(body, str) else body)
                )
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(raw)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = self.close_connection or reply.hang_up

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            # socketserver's listen backlog is 5: a burst of new connections (a pooled
            # client opening a dozen at once) would see SYNs dropped and connects time out,
            # which no real upstream does (uvicorn listens with 2048).
            request_queue_size = 128

            def shutdown_request(self, request: Any) -> None:
                super().shutdown_request(request)  # the socket shut down and closed
                stub.closed.release()

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[StubServer]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def record(**overrides: Any) -> dict[str, Any]:
    """A valid API record."""
    base: dict[str, Any] = {
        "transaction_id": "tx_001",
        "user_id": "test_user_001",
        "created_at": 1_700_000_000_000,
        "status": "DELIVERED",
        "platform": "IOS",
        "notification_title": "Hello",
        "ap_id": "mobile-app-001",
        "marketing_id": None,
        "error_msg": None,
    }
    base.update(overrides)
    base.setdefault("updated_at", base["created_at"])
    return base


def command(**overrides: Any) -> dict[str, Any]:
    """A valid command-records item (write model), secrets included."""
    base = record(**overrides)
    base.setdefault("device_token", "secret-device-token")
    base.setdefault("payload", '{"aps":{"alert":"Hello"}}')
    return base


def apigw_event(
    method: str,
    path: str,
    body: str | None = None,
    *,
    resource: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
    base64: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload 1.0) as AWS documents it."""
    headers = {
        "Content-Type": "application/json",
        "Host": "abc123.execute-api.ap-southeast-1.amazonaws.com",
        "User-Agent": "curl/8.5.0",
        **(headers or {}),
    }
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.ap-southeast-1.amazonaws.com",
            "extendedRequestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
            "path": f"/v1{path}",
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTime": "24/Nov/2026:11:00:00 +0000",
            "requestTimeEpoch": 1795518000000,
            "resourceId": "abcdef",
            "resourcePath": resource or path,
            "stage": "v1",
        },
        "body": body,
        "isBase64Encoded": base64,
    }


class FakeContext:
    function_name = "query-service-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:test"
    aws_request_id = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@contextmanager
def black_hole() -> Iterator[str]:
    """A URL whose connections never complete: a listener whose accept queue is full, so
    the kernel drops new SYNs and a client's connect times out (a firewalled upstream)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    queued = []
    for _ in range(3):
        client = socket.socket()
        client.setblocking(False)
        with suppress(BlockingIOError):
            client.connect(("127.0.0.1", port))
        queued.append(client)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for client in queued:
            client.close()
        server.close()

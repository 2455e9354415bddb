"""API Gateway's Lambda proxy integration (REST API, payload format 1.0), both ways.

``build_event`` is the event API Gateway sends for an HTTP request; ``to_response`` is the
HTTP answer it makes of what the function returns, or MalformedProxyResponse where the real
one answers 502.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response


class MalformedProxyResponse(ValueError):
    pass


def to_response(result: object, request_id: str) -> Response:
    """A Lambda proxy result as HTTP, or MalformedProxyResponse as API Gateway would 502."""
    if not isinstance(result, dict):
        raise MalformedProxyResponse("result is not an object")
    status = result.get("statusCode")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedProxyResponse("statusCode missing or not an HTTP status")
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedProxyResponse("body is not a string")
    raw = (body or "").encode()
    if result.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise MalformedProxyResponse("body is not base64") from None
    headers: list[tuple[str, str]] = []
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedProxyResponse("headers are not objects")
    for name, value in single.items():
        if not isinstance(value, str | int | float | bool):
            raise MalformedProxyResponse(f"header {name} is not a scalar")
        headers.append((str(name), str(value)))
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedProxyResponse(f"multi-value header {name} is not a list")
        headers.extend((str(name), str(v)) for v in values)
    response = Response(raw, status)
    names = {n.lower() for n, _ in headers}
    if "content-type" not in names:
        headers.append(("Content-Type", "application/json"))
    headers.append(("x-amzn-RequestId", request_id))
    for name, value in headers:
        response.headers.append(name, value)
    return response


def build_event(
    request: Request,
    resource: str,
    path_parameters: dict[str, str],
    body: bytes,
    request_id: str,
    stage: str,
) -> dict[str, Any]:
    """The REST API proxy event (payload 1.0) for ``request``."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    try:
        text: str | None = body.decode() if body else None
        encoded = False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    path = request.url.path
    now = time.time()
    return {
        "resource": resource,
        "path": path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": request.method,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{stage}{path}",
            "accountId": "000000000000",
            "protocol": f"HTTP/{request.scope.get('http_version', '1.1')}",
            "stage": stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "sourceIp": request.client.host if request.client else "127.0.0.1",
                "userAgent": request.headers.get("user-agent"),
            },
            "domainName": request.headers.get("host", "localhost"),
            "apiId": "local",
        },
        "body": text,
        "isBase64Encoded": encoded,
    }

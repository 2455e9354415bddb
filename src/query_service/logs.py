"""JSON log lines, one shape in every tier.

The request id lives in a context variable rather than in logger state, because the ECS
handler serves many requests at once on one event loop: a value appended to a shared
logger (as Powertools' ``Logger.append_keys`` does) would leak between them.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
import uuid
from typing import Any

import orjson

from query_service.domain.records import IDENTIFIER_RE

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI copy of the message
}


_LAMBDA_LOGGERS = "query_service.lambdas."


def new_request_id() -> str:
    return str(uuid.uuid4())


def accept_request_id(value: str | None) -> str:
    """The caller's X-Request-ID when it is a plain identifier, else a fresh one."""
    if value and IDENTIFIER_RE.match(value):
        return value
    return new_request_id()


class JsonFormatter(logging.Formatter):
    def __init__(self, tier: str, service: str) -> None:
        super().__init__()
        self.tier = tier
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        tier = self.tier
        if record.name.startswith(_LAMBDA_LOGGERS):
            # A Lambda hosted by the local gateway logs as its own tier, as it would on AWS.
            tier = record.name.rsplit(".", 1)[-1]
        line: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "tier": tier,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(tier: str, level: str = "INFO", service: str = "query-service") -> None:
    """Route every logger through one JSON handler on stdout (CloudWatch reads stdout).

    The first call in a process wins: a Lambda module imported by the local gateway keeps
    the gateway's handler (its own lines still carry its tier, by logger name).
    """
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(tier, service))
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("botocore", "boto3", "urllib3", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # uvicorn installs plain-text handlers of its own before it imports the app; send its
    # lines through ours instead. Its access line is replaced by the tier's own, which
    # carries the request id.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True

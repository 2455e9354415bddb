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
        self._second = -1
        self._stamp = ""

    def _timestamp(self, record: logging.LogRecord) -> str:
        """ISO 8601 in UTC to the millisecond; the seconds part is formatted once a second."""
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        tier = self.tier
        if record.name.startswith(_LAMBDA_LOGGERS):
            # A Lambda hosted by the local gateway logs as its own tier, as it would on AWS.
            tier = record.name.rsplit(".", 1)[-1]
        line: dict[str, Any] = {
            "timestamp": self._timestamp(record),
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


def log_fields(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """``logger.log(level, message, extra=fields)`` without looking up the caller's file
    and line, which the JSON line does not show: the ECS handler logs every request."""
    if logger.isEnabledFor(level):
        logger.handle(logger.makeRecord(logger.name, level, "", 0, message, (), None, extra=fields))


def configure_logging(tier: str, level: str = "INFO", service: str = "query-service") -> None:
    """Route every logger through one JSON handler on stdout (CloudWatch reads stdout).

    The first call in a process wins: a Lambda module imported by the local gateway keeps
    the gateway's handler (its own lines still carry its tier, by logger name).
    """
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    # The JSON line names no thread or process: do not look them up for every record.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if sys.version_info >= (3, 12):
        logging.logAsyncioTasks = False
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
    # Without a handler of its own or a parent's, uvicorn does not even build the line's
    # arguments per request.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True

"""JSON log lines, one shape in every tier.

The request id lives in a context variable rather than in logger state, because the ECS
handler serves many requests at once on one event loop: a value appended to a shared
logger (as Powertools' ``Logger.append_keys`` does) would leak between them.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import time
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
_VARIANT = "89ab"  # RFC 9562's variant bits (10xx) in a UUID's 17th hex digit


def new_request_id() -> str:
    """A random (version 4) UUID, as ``str(uuid.uuid4())`` writes it, without building the
    UUID object: the ECS handler makes one for every request that comes without an id."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


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

    def _timestamp(self, created: float, msecs: float) -> str:
        """ISO 8601 in UTC to the millisecond; the seconds part is formatted once a second."""
        second = int(created)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._stamp}.{int(msecs):03d}Z"

    def line(
        self,
        name: str,
        level: str,
        message: str,
        created: float,
        msecs: float,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        """One log line's fields, in their order: the same for every tier and logger."""
        tier = self.tier
        if name.startswith(_LAMBDA_LOGGERS):
            # A Lambda hosted by the local gateway logs as its own tier, as it would on AWS.
            tier = name.rsplit(".", 1)[-1]
        return {
            "timestamp": self._timestamp(created, msecs),
            "level": level,
            "service": self.service,
            "tier": tier,
            "logger": name,
            "message": message,
            "request_id": request_id_var.get(),
            **fields,
        }

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")
        }
        line = self.line(
            record.name, record.levelname, record.getMessage(), record.created, record.msecs, fields
        )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def _only_json_handler(logger: logging.Logger, level: int) -> logging.StreamHandler[Any] | None:
    """The one handler a record of ``logger`` at ``level`` would reach, when it is our JSON
    line on a stream and no filter is on the way; None when anything else would see it
    (another handler, a filter, pytest's capture)."""
    found: logging.StreamHandler[Any] | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if handler.level > level:
                continue
            if (
                found is not None
                or type(handler) is not logging.StreamHandler
                or not isinstance(handler.formatter, JsonFormatter)
                or handler.filters
            ):
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found


def log_fields(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """``logger.log(level, message, extra=fields)``, the same line for less: the ECS handler
    logs every request. When our JSON handler alone would write the record (as in the
    image), the line is written to its stream without building a LogRecord (nor looking up
    the caller's file and line, which the line does not show); otherwise it is logged."""
    if not logger.isEnabledFor(level):
        return
    handler = _only_json_handler(logger, level)
    if handler is not None:
        now = time.time_ns()
        formatter: JsonFormatter = handler.formatter  # type: ignore[assignment]
        line = formatter.line(
            logger.name,
            logging.getLevelName(level),
            message,
            now / 1e9,
            (now % 1_000_000_000) // 1_000_000,
            fields,
        )
        text = orjson.dumps(line, default=str).decode() + handler.terminator
        # try/except, not contextlib.suppress: Python calls less on every request.
        stream, lock = handler.stream, handler.lock
        try:
            if lock is None:
                stream.write(text)
                stream.flush()
            else:
                with lock:
                    stream.write(text)
                    stream.flush()
            return
        except Exception:  # noqa: BLE001, S110 - reported below, by logging's own path
            pass
        # The stream refused it: logging's own path reports that (Handler.handleError).
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

"""``query-service local stream``: the stack's stream tier, one process.

The event source mapping (stream_poller) on the command table's stream, invoking the
Stream Processor, until SIGINT or SIGTERM.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

from query_service.local.stream_poller import MappingConfig, StreamPoller
from query_service.local.stream_state import Checkpoints, DeadLetterFile, checkpoint_path

log = logging.getLogger("query_service.stream_poller")


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[Callable[[], bool]]:
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(state_dir: Path, config: MappingConfig) -> None:
    """Poll the command table's stream until SIGINT/SIGTERM (one process of the stack)."""
    from query_service.config import get_settings
    from query_service.logs import configure_logging
    from query_service.storage.dynamo import dynamodb_client, dynamodb_streams_client

    settings = get_settings()
    configure_logging("stream_poller", settings.log_level, settings.service_name)
    # Imported after logging is set up, as the gateway does: its lines keep their own tier.
    from query_service.lambdas.stream_processor import lambda_handler

    table = settings.command_table_name
    dynamodb = dynamodb_client(settings)
    stream_arn = dynamodb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
    if not stream_arn:
        raise SystemExit(f"table {table} has no stream: enable NEW_AND_OLD_IMAGES")
    streams = dynamodb_streams_client(settings)
    poller = StreamPoller(
        streams,
        stream_arn,
        lambda_handler,
        Checkpoints(checkpoint_path(state_dir, table), stream_arn),
        DeadLetterFile(state_dir / "dlq.jsonl"),
        config,
    )
    with _stop_on_signals() as should_stop:
        poller.run(should_stop)
    log.info(
        "stream poller stopped",
        extra={"invocations": poller.invocations, "dead_lettered": poller.dead_lettered},
    )

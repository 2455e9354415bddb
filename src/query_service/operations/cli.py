"""The operations' commands, as ``query-service`` runs them (cli.py parses the arguments)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import replace
from typing import IO

from botocore.exceptions import BotoCoreError, ClientError

from query_service.config import Settings, get_settings
from query_service.ports import DEFAULT_PORTS


def settings_for(endpoint: str | None) -> Settings:
    """The settings, with the local stack's DynamoDB in development unless told otherwise."""
    settings = get_settings()
    if endpoint:
        return replace(settings, dynamodb_endpoint_url=endpoint)
    if settings.dynamodb_endpoint_url is None and settings.environment == "development":
        return replace(settings, dynamodb_endpoint_url=DEFAULT_PORTS.url("dynamodb"))
    return settings


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (ecs stop-task): stop as Ctrl-C does


def backfill(args: argparse.Namespace, out: IO[str] = sys.stderr) -> int:
    import botocore.session

    from query_service.operations.backfill import Backfill, Options
    from query_service.operations.state import (
        DeadLetterLines,
        DeadLetterQueue,
        DeadLetters,
        SegmentCheckpoints,
    )
    from query_service.storage.dynamo import dynamodb_client
    from query_service.storage.projector import projector_for

    settings = settings_for(args.dynamodb_endpoint)
    client = dynamodb_client(settings, timeout=10.0, max_attempts=8)
    table = settings.command_table_name
    checkpoints = SegmentCheckpoints(args.state_dir, table, args.segments)
    if args.resume and checkpoints.others():
        print(
            f"backfill: the checkpoints in {checkpoints.directory} are of another number of "
            "segments: resume with that --segments, or start again without --resume",
            file=out,
        )
        return 2
    letters: DeadLetters
    if args.dlq_url:
        sqs = botocore.session.get_session().create_client(
            "sqs", region_name=settings.aws_default_region
        )
        letters = DeadLetterQueue(sqs, args.dlq_url)
    else:
        letters = DeadLetterLines(args.state_dir / "dlq.jsonl")
    options = Options(
        command_table=table,
        retention_days=settings.retention_days,
        segments=args.segments,
        max_writes_per_second=args.max_writes_per_second,
        dry_run=args.dry_run,
        resume=args.resume,
        page_size=args.page_size,
    )
    projector = projector_for(client, settings)
    job = Backfill(client, projector, options, checkpoints, letters)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    try:
        counts = job.run(out)
    except KeyboardInterrupt:
        print(f"backfill: stopped; {job.counts.line(args.dry_run)}; --resume continues", file=out)
        return 130
    except (BotoCoreError, ClientError) as exc:
        print(f"backfill: DynamoDB failed: {exc}; --resume continues", file=out)
        return 1
    seconds = time.monotonic() - started
    rate = counts.scanned / seconds if seconds else 0.0
    print(
        f"backfill{' (dry run)' if args.dry_run else ''}: {counts.line(args.dry_run)} "
        f"in {seconds:.1f} s ({rate:,.0f} rows/s)",
        file=out,
    )
    if counts.failed:
        where = args.dlq_url or args.state_dir / "dlq.jsonl"
        print(f"backfill: {counts.failed} failed, their keys and reasons in {where}", file=out)
        return 1
    return 0

"""The operations' commands, as ``query-service`` runs them (cli.py parses the arguments)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from query_service.config import Settings, get_settings
from query_service.ports import DEFAULT_PORTS

if TYPE_CHECKING:
    from query_service.operations.dlq import Delivered, Replay
    from query_service.operations.letters import Letter, LetterFile, LetterQueue


def settings_for(endpoint: str | None) -> Settings:
    """The settings, with the local stack's DynamoDB in development unless told otherwise."""
    settings = get_settings()
    if endpoint:
        return replace(settings, dynamodb_endpoint_url=endpoint)
    if settings.dynamodb_endpoint_url is None and settings.environment == "development":
        return replace(settings, dynamodb_endpoint_url=DEFAULT_PORTS.url("dynamodb"))
    return settings


def _no_queue(command: str, args: argparse.Namespace, settings: Settings, out: IO[str]) -> bool:
    """In production the dead letters are the SQS queue: a file in a task's scratch space
    is never what is meant, and reading one would report an empty queue."""
    if settings.environment == "production" and not args.dlq_url:
        print(f"{command}: name the dead-letter queue (--dlq-url or STREAM_DLQ_URL)", file=out)
        return True
    return False


def _sqs(settings: Settings) -> Any:
    import botocore.session

    return botocore.session.get_session().create_client(
        "sqs", region_name=settings.aws_default_region
    )


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (ecs stop-task): stop as Ctrl-C does


def backfill(args: argparse.Namespace, out: IO[str] = sys.stderr) -> int:
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
    if not args.dry_run and _no_queue("backfill", args, settings, out):  # a dry run sends none
        return 2
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
        letters = DeadLetterQueue(_sqs(settings), args.dlq_url)
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


def _letters(
    args: argparse.Namespace, settings: Settings, visibility: int
) -> LetterFile | LetterQueue:
    from query_service.operations.letters import LetterFile, LetterQueue

    if args.dlq_url:
        return LetterQueue(_sqs(settings), args.dlq_url, visibility)
    return LetterFile(args.state_dir / "dlq.jsonl")


def _shown(letter: Letter) -> str:
    return f"{letter.at or '?'}  {letter.source:<8}  {letter.names()}"


def _now(result: str, reason: str) -> str:
    if result == "failed":
        return f"still fails: {reason}"
    return {"projected": "would project", "current": "already current"}.get(result, "gone")


def _replay(
    args: argparse.Namespace, settings: Settings, dry_run: bool
) -> tuple[Replay, LetterFile | LetterQueue]:
    from query_service.operations.dlq import Replay
    from query_service.operations.letters import StreamRange
    from query_service.operations.reproject import Reprojection
    from query_service.storage.dynamo import dynamodb_client, dynamodb_streams_client
    from query_service.storage.projector import projector_for

    client = dynamodb_client(settings, timeout=10.0, max_attempts=8)
    projector = projector_for(client, settings)
    reprojection = Reprojection(
        client, projector, settings.command_table_name, settings.retention_days, dry_run
    )
    stream = StreamRange(dynamodb_streams_client(settings, timeout=10.0))
    replay = Replay(client, projector, reprojection, settings.notification_table_name, stream)
    return replay, _letters(args, settings, visibility=args.visibility_timeout)


def dlq_list(args: argparse.Namespace, out: IO[str] = sys.stdout) -> int:
    """What is waiting, with its reason and what a replay would do now (a dry run);
    exit 1 if anything is waiting."""
    from query_service.operations.letters import LetterQueue

    settings = settings_for(args.dynamodb_endpoint)
    if _no_queue("dlq list", args, settings, out):
        return 2
    replay, letters = _replay(args, settings, dry_run=True)

    def heard(letter: Letter, why: str, delivered: list[Delivered]) -> None:
        print(f"{_shown(letter)}\n    reason: {letter.reason}", file=out)
        for (transaction_id, user_id), result, reason in delivered:
            print(f"    {transaction_id}/{user_id} now: {_now(result, reason)}", file=out)
        if why and not delivered:
            print(f"    cannot replay: {why}", file=out)

    try:
        tally = replay.run(letters, heard)
        counts = ""
        if isinstance(letters, LetterQueue):
            visible, in_flight = letters.waiting()
            counts = f" (SQS: about {visible} visible, {in_flight} in flight)"
    except (BotoCoreError, ClientError) as exc:
        print(f"dlq list: {letters} could not be read: {exc}", file=out)
        return 2
    print(f"dlq list: {tally.letters} letter(s) waiting in {letters}{counts}", file=out)
    return 1 if tally.letters else 0


def dlq_replay(args: argparse.Namespace, out: IO[str] = sys.stdout) -> int:
    """Replays what is waiting; exit 1 if anything stays."""
    settings = settings_for(args.dynamodb_endpoint)
    if _no_queue("dlq replay", args, settings, out):
        return 2
    replay, letters = _replay(args, settings, args.dry_run)

    def heard(letter: Letter, why: str, delivered: list[Delivered]) -> None:
        verdict = f"kept: {why}" if why else ("would leave" if args.dry_run else "removed")
        print(f"{_shown(letter)}  -> {verdict}", file=out)

    signal.signal(signal.SIGTERM, _terminate)
    try:
        tally = replay.run(letters, heard)
    except KeyboardInterrupt:
        print("dlq replay: stopped; what was replayed has left the queue", file=out)
        return 130
    except (BotoCoreError, ClientError) as exc:
        print(f"dlq replay: {letters} could not be read: {exc}", file=out)
        return 1
    dry = " (dry run: nothing written, nothing removed)" if args.dry_run else ""
    print(f"dlq replay{dry}: {tally.line(args.dry_run)}", file=out)
    return 1 if tally.kept else 0

"""The operations' arguments: ``query-service backfill``, ``dlq list`` and ``dlq replay``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_operations(
    commands: Any,
    bounded_int: Callable[[int, int], Callable[[str], int]],
    positive: Callable[[str], float],
) -> None:
    """The operations' commands on ``commands`` (the ``query-service`` subparsers)."""
    backfill = commands.add_parser(
        "backfill",
        help="re-project command-records into the read table and the statistics",
    )
    backfill.set_defaults(func=_backfill)
    backfill.add_argument("--segments", type=bounded_int(1, 1000), default=4)
    backfill.add_argument(
        "--max-writes-per-second",
        type=positive,
        default=None,
        help="at most this many projection writes a second (default: no limit)",
    )
    backfill.add_argument(
        "--page-size",
        type=bounded_int(1, 100),
        default=100,
        help="items per Scan page; each segment checkpoints after every page (100)",
    )
    backfill.add_argument(
        "--resume", action="store_true", help="continue from each segment's checkpoint"
    )
    backfill.add_argument(
        "--dry-run", action="store_true", help="count what it would change, write nothing"
    )
    dlq = commands.add_parser(
        "dlq", help="the dead letters: what the projection gave up on"
    ).add_subparsers(dest="dlq_command", required=True)
    listing = dlq.add_parser("list", help="what is waiting, with its reason (exit 1 if any)")
    listing.set_defaults(func=_dlq_list)
    replay = dlq.add_parser(
        "replay",
        help="re-read each letter's deliveries from command-records and project them",
    )
    replay.set_defaults(func=_dlq_replay)
    replay.add_argument(
        "--dry-run", action="store_true", help="say what it would do, write and remove nothing"
    )
    for command in (backfill, listing, replay):
        command.add_argument(
            "--state-dir",
            type=Path,
            default=Path(os.environ.get("QUERY_SERVICE_STATE_DIR") or ".local"),
            help="checkpoints, and locally the dead letters: dlq.jsonl "
            "(QUERY_SERVICE_STATE_DIR; default .local)",
        )
        command.add_argument(
            "--dlq-url",
            default=os.environ.get("STREAM_DLQ_URL"),
            help="the on-failure SQS queue (STREAM_DLQ_URL; default: <state-dir>/dlq.jsonl)",
        )
        command.add_argument(
            "--dynamodb-endpoint",
            default=None,
            help="DYNAMODB_ENDPOINT_URL; in development the local stack's by default",
        )
    for command, hidden in ((listing, 30), (replay, 300)):
        command.add_argument(
            "--visibility-timeout",
            type=bounded_int(1, 43_200),
            default=hidden,
            help=f"SQS: seconds a letter read stays hidden from other readers ({hidden})",
        )


def _backfill(args: argparse.Namespace) -> int:
    from query_service.operations.cli import backfill

    return backfill(args)


def _dlq_list(args: argparse.Namespace) -> int:
    from query_service.operations.cli import dlq_list

    return dlq_list(args)


def _dlq_replay(args: argparse.Namespace) -> int:
    from query_service.operations.cli import dlq_replay

    return dlq_replay(args)

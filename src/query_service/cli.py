"""The ``query-service`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from query_service import __version__
from query_service.operations.arguments import add_operations
from query_service.ports import DEFAULT_PORTS, HOST, Ports


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="query-service", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser("local", help="the local stack").add_subparsers(
        dest="local_command", required=True
    )
    up = local.add_parser("up", help="start every tier with demo data (what `make run` runs)")
    up.set_defaults(func=_up)
    for tier, port in DEFAULT_PORTS.items():
        up.add_argument(f"--{tier}-port", type=int, default=port, help=f"default {port}")
    up.add_argument(
        "--engine",
        choices=("auto", "dynamodb-local", "moto"),
        default="auto",
        help="DynamoDB Local (needs Java 11+ and npm) or moto's server",
    )
    up.add_argument(
        "--demo-records",
        type=int,
        default=300,
        help="generated records on top of the brief's sample",
    )
    up.add_argument("--log-dir", type=Path, help="also write each tier's log to DIR/<tier>.log")
    up.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".local"),
        help="stream checkpoints and the dead-letter file dlq.jsonl (default .local)",
    )
    gateway = local.add_parser("gateway", help="run one local API Gateway (used by `up`)")
    gateway.set_defaults(func=_gateway)
    gateway.add_argument("name", choices=("public", "internal"))
    gateway.add_argument("--host", default=HOST)
    gateway.add_argument("--port", type=int, required=True)
    gateway.add_argument("--timeout", type=float, help="integration timeout, seconds (29)")

    seed = local.add_parser(
        "seed",
        help="create the tables and write the demo data to command-records (docker compose)",
    )
    seed.set_defaults(func=_seed)
    seed.add_argument("--demo-records", type=_bounded_int(0, 1_000_000), default=300)

    stream = local.add_parser(
        "stream",
        help="the event source mapping: command-records stream -> Stream Processor (used by `up`)",
    )
    stream.set_defaults(func=_stream)
    stream.add_argument("--state-dir", type=Path, default=Path(".local"))
    stream.add_argument("--batch-size", type=_bounded_int(1, 1000), default=100)
    stream.add_argument(
        "--batching-window", type=float, default=0.5, help="seconds to gather a batch (0.5)"
    )
    stream.add_argument("--retry-attempts", type=_bounded_int(0, 10_000), default=3)
    stream.add_argument("--no-bisect", action="store_true", help="do not split failing batches")

    simulate = commands.add_parser(
        "simulate",
        help="write push traffic into the running stack's command-records and watch it project",
    )
    simulate.set_defaults(func=_simulate)
    simulate.add_argument("--users", type=_bounded_int(1, 1_000_000), default=100)
    simulate.add_argument(
        "--transactions",
        type=_bounded_int(1, 1_000_000),
        default=10,
        help="campaigns; each goes to every user (deliveries = users x transactions)",
    )
    simulate.add_argument("--failure-rate", type=_rate, default=0.05, help="0..1 (0.05)")
    simulate.add_argument("--seed", type=int, help="for repeatable traffic")
    simulate.add_argument(
        "--dynamodb-endpoint",
        default=None,
        help=f"DynamoDB of the stack (DYNAMODB_ENDPOINT_URL, else {DEFAULT_PORTS.url('dynamodb')})",
    )
    simulate.add_argument(
        "--no-wait", action="store_true", help="do not wait for the read side to catch up"
    )
    simulate.add_argument("--timeout", type=float, default=300.0, help="catch-up wait, seconds")
    add_operations(commands, _bounded_int, _positive)
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _up(args: argparse.Namespace) -> int:
    from query_service.local.stack import LocalStack, run

    ports = Ports(args.dynamodb_port, args.internal_port, args.ecs_port, args.public_port)
    stack = LocalStack(
        ports,
        engine=args.engine,
        demo_records=args.demo_records,
        log_dir=args.log_dir,
        state_dir=args.state_dir,
    )
    return run(stack)


def _gateway(args: argparse.Namespace) -> int:
    from query_service.local.gateway import GATEWAYS, serve

    serve(GATEWAYS[args.name], args.host, args.port, args.timeout)
    return 0


def _stream(args: argparse.Namespace) -> int:
    from query_service.local.stream_poller import MappingConfig
    from query_service.local.stream_tier import serve

    config = MappingConfig(
        batch_size=args.batch_size,
        batching_window=args.batching_window,
        max_retry_attempts=args.retry_attempts,
        bisect_on_error=not args.no_bisect,
    )
    serve(args.state_dir, config)
    return 0


def _seed(args: argparse.Namespace) -> int:
    """Tables and demo data on the DYNAMODB_ENDPOINT_URL; the stream tier projects them."""
    from query_service.config import get_settings
    from query_service.local.demo import load_demo
    from query_service.local.dynamodb import ensure_tables
    from query_service.storage.dynamo import dynamodb_client

    settings = get_settings()
    if not settings.dynamodb_endpoint_url:
        print("seed: set DYNAMODB_ENDPOINT_URL (it only seeds a local DynamoDB)", file=sys.stderr)
        return 2
    client = dynamodb_client(settings, timeout=10.0)
    ensure_tables(
        client,
        settings.command_table_name,
        settings.notification_table_name,
        settings.stats_table_name,
    )
    written = load_demo(client, settings.command_table_name, generated=args.demo_records)
    print(f"{len(written)} demo records written to {settings.command_table_name}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from query_service.local.commands import NotProjected
    from query_service.local.simulate import Plan, simulate
    from query_service.operations.cli import settings_for
    from query_service.storage.dynamo import dynamodb_client

    settings = settings_for(args.dynamodb_endpoint)
    if settings.dynamodb_endpoint_url is None:  # never made-up traffic into AWS's tables
        print("simulate: name the stack's DynamoDB (--dynamodb-endpoint)", file=sys.stderr)
        return 2
    plan = Plan(args.users, args.transactions, args.failure_rate, args.seed)
    try:
        simulate(
            dynamodb_client(settings, timeout=10.0),
            settings.command_table_name,
            settings.notification_table_name,
            plan,
            wait=not args.no_wait,
            timeout=args.timeout,
        )
    except NotProjected as exc:
        print(f"simulate: {exc}: is the stack's stream tier running?", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        endpoint = settings.dynamodb_endpoint_url
        print(f"simulate: DynamoDB at {endpoint} failed: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

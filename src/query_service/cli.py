"""The ``query-service`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from query_service import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="query-service", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser("local", help="the local stack").add_subparsers(
        dest="local_command", required=True
    )
    up = local.add_parser("up", help="start every tier with demo data (what `make run` runs)")
    up.add_argument("--dynamodb-port", type=int, default=8001)
    up.add_argument("--internal-port", type=int, default=4001)
    up.add_argument("--ecs-port", type=int, default=8000)
    up.add_argument("--public-port", type=int, default=3000)
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
    gateway = local.add_parser("gateway", help="run one local API Gateway (used by `up`)")
    gateway.add_argument("name", choices=("public", "internal"))
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=int, required=True)
    gateway.add_argument("--timeout", type=float, help="integration timeout, seconds (29)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "local" and args.local_command == "up":
        from query_service.local.stack import LocalStack, Ports, run

        ports = Ports(args.dynamodb_port, args.internal_port, args.ecs_port, args.public_port)
        stack = LocalStack(
            ports, engine=args.engine, demo_records=args.demo_records, log_dir=args.log_dir
        )
        return run(stack)
    if args.command == "local" and args.local_command == "gateway":
        from query_service.local.gateway import GATEWAYS, serve

        serve(GATEWAYS[args.name], args.host, args.port, args.timeout)
        return 0
    return 2  # pragma: no cover - argparse requires a command


if __name__ == "__main__":
    sys.exit(main())

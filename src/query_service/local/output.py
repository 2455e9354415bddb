"""What ``query-service local up`` prints: every tier's lines in one stream, each line
prefixed (and coloured on a terminal) with its tier and copied to ``<log-dir>/<tier>.log``,
and the banner that says the stack is up."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO

from query_service.ports import DEFAULT_PORTS, Ports

# The line `query-service local up` prints once every tier answers: what a parent waits for.
READY_LINE = "query-service local stack is up"
_COLORS = {"dynamodb": "33", "stream": "34", "internal": "36", "ecs": "32", "public": "35"}


class StackOutput:
    def __init__(self, out: IO[str], color: bool, log_dir: Path | None) -> None:
        self.out = out
        self.color = color
        self.log_dir = log_dir
        self._lock = threading.Lock()

    def say(self, line: str, tier: str = "stack") -> None:
        prefix = f"{tier:<8}|"
        if self.color and tier in _COLORS:
            prefix = f"\033[{_COLORS[tier]}m{prefix}\033[0m"
        with self._lock:
            self.out.write(f"{prefix} {line}\n")
            self.out.flush()

    def write(self, text: str) -> None:
        with self._lock:
            self.out.write(text)
            self.out.flush()

    def relay(self, tier: str, stream: IO[bytes]) -> None:
        """Relay ``stream`` (a tier's stdout) line by line from a thread of its own."""
        threading.Thread(target=self._relay, args=(tier, stream), daemon=True, name=tier).start()

    def _relay(self, tier: str, stream: IO[bytes]) -> None:
        log_file = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_file = (self.log_dir / f"{tier}.log").open("a", encoding="utf-8")
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.say(line, tier)
            if log_file is not None:
                log_file.write(line + "\n")
                log_file.flush()
        if log_file is not None:
            log_file.close()


def banner(ports: Ports, engine: str, state_dir: Path) -> str:
    p = ports
    post = "curl -s -X POST localhost:{}{} -H 'content-type: application/json' -d '{}'"
    simulate = "  uv run query-service simulate --users 100 --transactions 10"
    if p.dynamodb != DEFAULT_PORTS.dynamodb:
        simulate += f" --dynamodb-endpoint http://localhost:{p.dynamodb}"
    return "\n".join(
        [
            "",
            READY_LINE,
            f"  public API    API Gateway + Query Lambda          http://localhost:{p.public}",
            f"  ECS handler   FastAPI, docs at /docs              http://localhost:{p.ecs}",
            f"  internal API  private API + Query Result Lambda  http://localhost:{p.internal}",
            f"  DynamoDB      {engine:<36}http://localhost:{p.dynamodb}",
            f"  stream tier   event source mapping, dead letters in {state_dir}/dlq.jsonl",
            "",
            "Try:",
            "  " + post.format(p.public, "/query/user", '{"user_id":"test_user_001","limit":10}'),
            "  " + post.format(p.public, "/query/fail", '{"transaction_id":"tx_002"}'),
            f"  curl -s 'localhost:{p.public}/query/tx?transaction_id=tx_001&status=FAILED,SENT'",
            f"  curl -s 'localhost:{p.public}/query/delivery"
            "?transaction_id=tx_002&user_id=test_user_001'",
            f"  curl -s 'localhost:{p.public}/query/stats?transaction_id=tx_002'",
            f"  open http://localhost:{p.ecs}/console/   # the support console",
            f"  curl -s localhost:{p.ecs}/health",
            simulate + "   # push traffic",
            "",
            "Ctrl-C stops every tier.",
            "",
        ]
    )

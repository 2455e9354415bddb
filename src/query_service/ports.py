"""Where each tier listens on a developer's machine: the one place these numbers live.

``query-service local up`` takes its defaults from here, and so do the settings that
point one local tier at the next.
"""

from __future__ import annotations

from typing import NamedTuple

HOST = "127.0.0.1"


class Ports(NamedTuple):
    dynamodb: int = 8001
    internal: int = 4001
    ecs: int = 8000
    public: int = 3000

    def items(self) -> list[tuple[str, int]]:
        return [
            ("dynamodb", self.dynamodb),
            ("internal", self.internal),
            ("ecs", self.ecs),
            ("public", self.public),
        ]

    def url(self, tier: str) -> str:
        return f"http://{HOST}:{dict(self.items())[tier]}"


DEFAULT_PORTS = Ports()

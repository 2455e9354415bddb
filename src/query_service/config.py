"""All configuration, from the environment (ARCHITECTURE §6).

Every setting has a default that works on a laptop; ``check_production`` is what stops a
production task from starting with a laptop's settings.

A frozen dataclass read from ``os.environ``, not a pydantic-settings class: every tier
reads it, the Lambdas at cold start, where pydantic-settings brought python-dotenv, asyncio
and its settings sources (and pydantic, into the Stream Processor) for a few strings, one
number and four choices. Those conversions are written out below, each failure naming its
variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Literal, get_args
from urllib.parse import urlsplit

from query_service.ports import DEFAULT_PORTS

Tier = Literal["query_entry", "ecs_handler", "query_result", "stream_processor", "local"]
Environment = Literal["development", "test", "production"]
InternalApiAuth = Literal["none", "iam"]
ConsoleAuth = Literal["none", "alb"]

# Lambda tiers answer API Gateway, whose integration gives up at 29 s; the ECS handler is
# behind the Lambda and gets the brief's 30 s.
DEFAULT_TIMEOUTS: dict[str, float] = {"ecs_handler": 30.0, "query_entry": 10.0}
MAX_REQUEST_TIMEOUT = 900.0
MAX_RETENTION_DAYS = 36_500
MAX_PROJECTION_CACHE_ITEMS = 1_000_000
LOCAL_CURSOR_SECRET = "local-development-cursor-secret-not-for-production"  # noqa: S105
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "[::1]"}  # noqa: S104


class ConfigError(RuntimeError):
    """A setting that must not be used; the message names the variable."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The settings of every tier; ``from_environ`` reads them, by upper-case name."""

    environment: Environment = "development"
    service_name: str = "query-service"
    internal_api_url: str = DEFAULT_PORTS.url("internal")
    internal_api_auth: InternalApiAuth = "none"
    request_timeout: float | None = None  # seconds, 0 < t <= 900
    ecs_handler_url: str | None = None
    eks_handler_url: str | None = None
    aws_default_region: str = "ap-southeast-1"
    dynamodb_endpoint_url: str | None = None
    notification_table_name: str = "notification-records"
    command_table_name: str = "command-records"
    stats_table_name: str = "delivery-stats"
    # Comma-separated; the first signs new cursors, every one verifies (rotation).
    cursor_secret: str | None = field(default=None, repr=False)
    # On AWS the keys live in this SSM SecureString instead (read once per environment).
    cursor_secret_parameter: str | None = None
    log_level: str = "INFO"
    # The support console (ARCHITECTURE §9): "none" stands the developer in as
    # local-developer; "alb" verifies the load balancer's signed OIDC identity.
    console_auth: ConsoleAuth = "none"
    console_alb_arn: str | None = None
    console_alb_key_url: str = "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"
    # Days a delivery is kept after its created_at, on both sides (their TTL, expires_at).
    retention_days: int = 90  # 1 <= days <= MAX_RETENTION_DAYS
    # Read items the Stream Processor remembers across batches (0: none), so that a
    # delivery's later changes are projected without reading it first: about 1.5 KB each
    # at a delivery's usual two or three events (30 MB for the default), 8 KB at 50.
    projection_cache_items: int = 20_000  # 0 <= items <= MAX_PROJECTION_CACHE_ITEMS

    def __post_init__(self) -> None:
        _check_choice("ENVIRONMENT", self.environment, get_args(Environment))
        _check_choice("INTERNAL_API_AUTH", self.internal_api_auth, get_args(InternalApiAuth))
        _check_choice("CONSOLE_AUTH", self.console_auth, get_args(ConsoleAuth))
        timeout = self.request_timeout
        if timeout is not None and not 0 < timeout <= MAX_REQUEST_TIMEOUT:
            raise ConfigError(
                f"REQUEST_TIMEOUT={timeout} is out of range: seconds, "
                f"more than 0 and at most {MAX_REQUEST_TIMEOUT:g}"
            )
        if not 1 <= self.retention_days <= MAX_RETENTION_DAYS:
            raise ConfigError(
                f"RETENTION_DAYS={self.retention_days} is out of range: days, "
                f"1 to {MAX_RETENTION_DAYS}"
            )
        if not 0 <= self.projection_cache_items <= MAX_PROJECTION_CACHE_ITEMS:
            raise ConfigError(
                f"PROJECTION_CACHE_ITEMS={self.projection_cache_items} is out of range: "
                f"0 (none) to {MAX_PROJECTION_CACHE_ITEMS:,} read items"
            )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings ``environ`` (default: this process's environment) gives.

        Names match case-insensitively; a variable not set keeps its default.
        """
        given = {k.lower(): v for k, v in (os.environ if environ is None else environ).items()}
        values: dict[str, object] = {f.name: given[f.name] for f in fields(cls) if f.name in given}
        if "request_timeout" in values:
            values["request_timeout"] = _seconds(given["request_timeout"])
        if "retention_days" in values:
            values["retention_days"] = _days(given["retention_days"])
        if "projection_cache_items" in values:
            values["projection_cache_items"] = _whole(
                "PROJECTION_CACHE_ITEMS", given["projection_cache_items"], "read items"
            )
        return cls(**values)  # type: ignore[arg-type]  # choices are checked on init

    def timeout_for(self, tier: str) -> float:
        if self.request_timeout is not None:
            return self.request_timeout
        return DEFAULT_TIMEOUTS.get(tier, 10.0)

    def cursor_keys(self, secret: str | None = None) -> list[bytes]:
        """The keys of ``secret`` (the parameter's value), else of CURSOR_SECRET."""
        raw = secret or self.cursor_secret or ""
        keys = [k.strip().encode() for k in raw.split(",") if k.strip()]
        return keys or [LOCAL_CURSOR_SECRET.encode()]

    def ecs_url(self) -> str:
        """Where the Query Lambda forwards to; EKS_HANDLER_URL is the pre-migration name."""
        url = self.ecs_handler_url or self.eks_handler_url
        return (url or DEFAULT_PORTS.url("ecs")).rstrip("/")

    def check_production(self, tier: Tier) -> None:
        """Refuse, naming the variable, what is only right on a laptop."""
        if self.environment != "production":
            return
        endpoints: dict[str, str | None] = {}
        if tier == "ecs_handler":
            endpoints["INTERNAL_API_URL"] = self.internal_api_url
        elif tier == "query_entry":
            endpoints["ECS_HANDLER_URL"] = self.ecs_handler_url or self.eks_handler_url
        for name, url in endpoints.items():
            if not url:
                raise ConfigError(f"{name} must be set when ENVIRONMENT=production")
            host = urlsplit(url).hostname or ""
            if host in _LOCAL_HOSTS or host.endswith(".localhost"):
                raise ConfigError(
                    f"{name}={url} points at this machine, which ENVIRONMENT=production refuses"
                )
        if tier == "ecs_handler" and urlsplit(self.internal_api_url).scheme != "https":
            raise ConfigError("INTERNAL_API_URL must use https when ENVIRONMENT=production")
        if tier == "ecs_handler" and self.console_auth == "none":
            raise ConfigError(
                "CONSOLE_AUTH=none lets anyone use the support console, which "
                "ENVIRONMENT=production refuses: set CONSOLE_AUTH=alb and CONSOLE_ALB_ARN"
            )
        if tier == "ecs_handler" and not self.console_alb_arn:
            raise ConfigError("CONSOLE_ALB_ARN must be set when CONSOLE_AUTH=alb")
        if tier in {"query_result", "stream_processor"} and self.dynamodb_endpoint_url:
            raise ConfigError("DYNAMODB_ENDPOINT_URL must not be set when ENVIRONMENT=production")
        if tier == "query_result" and not (self.cursor_secret or self.cursor_secret_parameter):
            raise ConfigError(
                "CURSOR_SECRET or CURSOR_SECRET_PARAMETER must be set when ENVIRONMENT=production"
            )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"REQUEST_TIMEOUT={text!r} is not a number of seconds") from None


def _days(text: str) -> int:
    return _whole("RETENTION_DAYS", text, "days")


def _whole(name: str, text: str, unit: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a whole number of {unit}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ()

"""All configuration, from the environment (ARCHITECTURE §6).

Every setting has a default that works on a laptop; ``check_production`` is what stops a
production task from starting with a laptop's settings.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from query_service.ports import DEFAULT_PORTS

Tier = Literal["query_entry", "ecs_handler", "query_result", "stream_processor", "local"]

# Lambda tiers answer API Gateway, whose integration gives up at 29 s; the ECS handler is
# behind the Lambda and gets the brief's 30 s.
DEFAULT_TIMEOUTS: dict[str, float] = {"ecs_handler": 30.0, "query_entry": 10.0}
LOCAL_CURSOR_SECRET = "local-development-cursor-secret-not-for-production"  # noqa: S105
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "[::1]"}  # noqa: S104


class ConfigError(RuntimeError):
    """A setting that must not be used; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    service_name: str = "query-service"
    internal_api_url: str = DEFAULT_PORTS.url("internal")
    internal_api_auth: Literal["none", "iam"] = "none"
    request_timeout: float | None = Field(default=None, gt=0, le=900)
    ecs_handler_url: str | None = None
    eks_handler_url: str | None = None
    aws_default_region: str = "ap-southeast-1"
    dynamodb_endpoint_url: str | None = None
    notification_table_name: str = "notification-records"
    command_table_name: str = "command-records"
    stats_table_name: str = "delivery-stats"
    # Comma-separated; the first signs new cursors, every one verifies (rotation).
    cursor_secret: SecretStr | None = None
    # On AWS the keys live in this SSM SecureString instead (read once per environment).
    cursor_secret_parameter: str | None = None
    log_level: str = "INFO"
    # The support console (ARCHITECTURE §9): "none" stands the developer in as
    # local-developer; "alb" verifies the load balancer's signed OIDC identity.
    console_auth: Literal["none", "alb"] = "none"
    console_alb_arn: str | None = None
    console_alb_key_url: str = "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"

    def timeout_for(self, tier: str) -> float:
        if self.request_timeout is not None:
            return self.request_timeout
        return DEFAULT_TIMEOUTS.get(tier, 10.0)

    def cursor_keys(self, secret: str | None = None) -> list[bytes]:
        """The keys of ``secret`` (the parameter's value), else of CURSOR_SECRET."""
        raw = secret or (self.cursor_secret.get_secret_value() if self.cursor_secret else "")
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
        if tier in {"query_result", "stream_processor"} and self.dynamodb_endpoint_url:
            raise ConfigError("DYNAMODB_ENDPOINT_URL must not be set when ENVIRONMENT=production")
        if tier == "query_result" and not (self.cursor_secret or self.cursor_secret_parameter):
            raise ConfigError(
                "CURSOR_SECRET or CURSOR_SECRET_PARAMETER must be set when ENVIRONMENT=production"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

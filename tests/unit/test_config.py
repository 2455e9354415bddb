from __future__ import annotations

import pytest

from query_service.config import ConfigError, Settings


def prod(**values: object) -> Settings:
    return Settings(environment="production", **values)  # type: ignore[arg-type]


def test_development_defaults_work_locally() -> None:
    settings = Settings()
    settings.check_production("ecs_handler")
    assert settings.internal_api_url.startswith("http://127.0.0.1")
    assert settings.timeout_for("ecs_handler") == 30.0
    assert settings.timeout_for("query_entry") == 10.0


def test_request_timeout_overrides_tier_defaults() -> None:
    assert Settings(request_timeout=2.5).timeout_for("ecs_handler") == 2.5


@pytest.mark.parametrize(
    "url", ["http://localhost:4001", "https://127.0.0.1/v1", "https://[::1]:4001", "http://0.0.0.0"]
)
def test_production_refuses_local_internal_api(url: str) -> None:
    with pytest.raises(ConfigError, match="INTERNAL_API_URL"):
        prod(internal_api_url=url).check_production("ecs_handler")


def test_production_refuses_plain_http_internal_api() -> None:
    with pytest.raises(ConfigError, match="INTERNAL_API_URL must use https"):
        prod(
            internal_api_url="http://abc.execute-api.ap-southeast-1.amazonaws.com/v1"
        ).check_production("ecs_handler")


def test_production_accepts_the_private_api_url() -> None:
    prod(
        internal_api_url="https://abc-vpce-1.execute-api.ap-southeast-1.amazonaws.com/v1"
    ).check_production("ecs_handler")


def test_production_query_lambda_needs_a_real_ecs_url() -> None:
    with pytest.raises(ConfigError, match="ECS_HANDLER_URL must be set"):
        prod().check_production("query_entry")
    with pytest.raises(ConfigError, match="ECS_HANDLER_URL"):
        prod(ecs_handler_url="http://localhost:8000").check_production("query_entry")
    prod(ecs_handler_url="http://internal-qs.elb.amazonaws.com").check_production("query_entry")


def test_production_query_result_needs_a_cursor_secret() -> None:
    with pytest.raises(ConfigError, match="CURSOR_SECRET"):
        prod().check_production("query_result")
    prod(cursor_secret="s" * 32).check_production("query_result")


def test_eks_handler_url_is_still_understood() -> None:
    assert Settings(eks_handler_url="http://old:8000/").ecs_url() == "http://old:8000"
    assert Settings(eks_handler_url="http://old", ecs_handler_url="http://new").ecs_url() == (
        "http://new"
    )


def test_cursor_secret_lists_rotation_keys() -> None:
    settings = Settings(cursor_secret="new-key-0123456789, old-key-0123456789")
    assert settings.cursor_keys() == [b"new-key-0123456789", b"old-key-0123456789"]

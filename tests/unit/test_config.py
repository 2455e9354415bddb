from __future__ import annotations

import re

import pytest

from query_service.config import ConfigError, Settings, get_settings

STAND_IN_ALB_ARN = (
    "arn:aws:elasticloadbalancing:ap-southeast-1:123456789012:loadbalancer/app/qs/0123456789abcdef"
)


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
        internal_api_url="https://abc-vpce-1.execute-api.ap-southeast-1.amazonaws.com/v1",
        console_auth="alb",
        console_alb_arn=STAND_IN_ALB_ARN,
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


def test_settings_come_from_the_environment_by_name() -> None:
    settings = Settings.from_environ(
        {
            "ENVIRONMENT": "production",
            "Internal_Api_Url": "https://abc.execute-api.ap-southeast-1.amazonaws.com/v1",
            "REQUEST_TIMEOUT": "2.5",
            "CURSOR_SECRET": "key-0123456789",
            "NOTIFICATION_TABLE_NAME": "records-test",
            "RETENTION_DAYS": "30",
            "PROJECTION_CACHE_ITEMS": "0",
            "UNRELATED": "ignored",
        }
    )
    assert settings.environment == "production"
    assert settings.internal_api_url.startswith("https://abc.")
    assert settings.timeout_for("ecs_handler") == 2.5
    assert settings.cursor_keys() == [b"key-0123456789"]
    assert settings.notification_table_name == "records-test"
    assert settings.retention_days == 30
    assert settings.projection_cache_items == 0  # the Stream Processor remembers nothing
    assert Settings().projection_cache_items == 20_000
    assert settings.command_table_name == "command-records"  # not set: the default
    assert Settings.from_environ({}) == Settings()


def test_get_settings_reads_this_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    get_settings.cache_clear()
    try:
        assert get_settings().log_level == "DEBUG"
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"REQUEST_TIMEOUT": "soon"}, "REQUEST_TIMEOUT='soon' is not a number"),
        ({"REQUEST_TIMEOUT": ""}, "REQUEST_TIMEOUT='' is not a number"),
        ({"REQUEST_TIMEOUT": "0"}, "REQUEST_TIMEOUT=0.0 is out of range"),
        ({"REQUEST_TIMEOUT": "901"}, "REQUEST_TIMEOUT=901.0 is out of range"),
        ({"REQUEST_TIMEOUT": "nan"}, "REQUEST_TIMEOUT=nan is out of range"),
        ({"RETENTION_DAYS": "90d"}, "RETENTION_DAYS='90d' is not a whole number of days"),
        ({"RETENTION_DAYS": "0"}, "RETENTION_DAYS=0 is out of range"),
        ({"RETENTION_DAYS": "36501"}, "RETENTION_DAYS=36501 is out of range"),
        ({"PROJECTION_CACHE_ITEMS": "lots"}, "PROJECTION_CACHE_ITEMS='lots' is not a whole"),
        ({"PROJECTION_CACHE_ITEMS": "-1"}, "PROJECTION_CACHE_ITEMS=-1 is out of range"),
        ({"ENVIRONMENT": "prod"}, "ENVIRONMENT='prod' is not one of development, test, production"),
        ({"INTERNAL_API_AUTH": "sigv4"}, "INTERNAL_API_AUTH='sigv4' is not one of none, iam"),
        ({"CONSOLE_AUTH": "cognito"}, "CONSOLE_AUTH='cognito' is not one of none, alb"),
    ],
)
def test_a_bad_setting_is_refused_by_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_environ(environ)


def test_the_cursor_secret_stays_out_of_reprs() -> None:
    assert "key-0123456789" not in repr(Settings(cursor_secret="key-0123456789"))

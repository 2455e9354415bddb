"""The query-service command: each subcommand reaches its function, with the one set of
default ports."""

from __future__ import annotations

import pytest

from query_service.cli import _parser, main
from query_service.config import Settings
from query_service.ports import DEFAULT_PORTS


@pytest.mark.parametrize(
    ("argv", "func"),
    [
        (["local", "up"], "_up"),
        (["local", "gateway", "public", "--port", "1"], "_gateway"),
        (["local", "seed"], "_seed"),
        (["local", "stream"], "_stream"),
        (["simulate"], "_simulate"),
        (["backfill"], "_backfill"),
    ],
)
def test_every_subcommand_has_its_function(argv: list[str], func: str) -> None:
    assert _parser().parse_args(argv).func.__name__ == func


def test_a_command_is_required() -> None:
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args(["local"])
    assert exited.value.code == 2


def test_main_runs_the_subcommand_and_returns_its_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "seed"]) == 2  # no DYNAMODB_ENDPOINT_URL: it refuses, saying why
    assert "set DYNAMODB_ENDPOINT_URL" in capsys.readouterr().err


def test_the_default_ports_come_from_one_place() -> None:
    up = _parser().parse_args(["local", "up"])
    assert (up.dynamodb_port, up.internal_port, up.ecs_port, up.public_port) == (
        DEFAULT_PORTS.dynamodb,
        DEFAULT_PORTS.internal,
        DEFAULT_PORTS.ecs,
        DEFAULT_PORTS.public,
    )
    settings = Settings()
    assert settings.internal_api_url == DEFAULT_PORTS.url("internal")
    assert settings.ecs_url() == DEFAULT_PORTS.url("ecs")


def test_the_backfills_options_and_their_bounds() -> None:
    args = _parser().parse_args(["backfill"])
    assert (args.segments, args.page_size, args.max_writes_per_second) == (4, 100, None)
    assert (args.resume, args.dry_run) == (False, False)
    for wrong in (["--segments", "0"], ["--page-size", "101"], ["--max-writes-per-second", "0"]):
        with pytest.raises(SystemExit):
            _parser().parse_args(["backfill", *wrong])


def test_the_backfill_uses_the_local_stack_only_in_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from query_service.config import get_settings
    from query_service.operations.cli import settings_for

    monkeypatch.delenv("DYNAMODB_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    assert settings_for(None).dynamodb_endpoint_url == DEFAULT_PORTS.url("dynamodb")
    assert settings_for("http://127.0.0.1:1").dynamodb_endpoint_url == "http://127.0.0.1:1"
    monkeypatch.setenv("ENVIRONMENT", "production")
    get_settings.cache_clear()
    assert settings_for(None).dynamodb_endpoint_url is None

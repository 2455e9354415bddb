"""The cursor keys of the Query Result Lambda, from the SSM SecureString Terraform creates.

CURSOR_SECRET_PARAMETER names the parameter; its value is the comma-separated key list of
CURSOR_SECRET (the first signs, every one verifies). The caller caches the result, so each
execution environment reads the parameter once, at its first paged query, not at import
(a SnapStart snapshot holds no key and an import needs no credentials).
"""

from __future__ import annotations

import logging
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from query_service.config import Settings
from query_service.domain.errors import UPSTREAM_UNAVAILABLE, Problem

log = logging.getLogger(__name__)

# The read happens inside a request that has a deadline of its own (ARCHITECTURE §3).
_CLIENT_CONFIG = Config(
    connect_timeout=2, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"}
)


def read_cursor_secret(settings: Settings) -> str | None:
    """The parameter's decrypted value, or None when no parameter is configured."""
    name = settings.cursor_secret_parameter
    if not name:
        return None
    # botocore clients are typed as BaseClient; the SSM stubs are not a dependency.
    client: Any = botocore.session.get_session().create_client(
        "ssm", region_name=settings.aws_default_region, config=_CLIENT_CONFIG
    )
    try:
        response = client.get_parameter(Name=name, WithDecryption=True)
    except (ClientError, BotoCoreError) as error:
        log.error("cursor keys unreadable", extra={"parameter": name}, exc_info=error)
        raise Problem(
            UPSTREAM_UNAVAILABLE,
            "The service's cursor keys could not be read; retry shortly.",
            headers={"Retry-After": "1"},
        ) from None
    value: str = response["Parameter"]["Value"]
    return value

"""Who is asking: each console request's identity, by CONSOLE_AUTH (ARCHITECTURE §9).

``none`` (locally) answers ``local-developer``; ``alb`` verifies the internal load
balancer's signed OIDC identity on every request, and a request without one is a 401 page
(503 when the load balancer's key cannot be fetched).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from query_service.config import ConfigError, Settings
from query_service.ecs.console.identity import (
    LOCAL_DEVELOPER,
    OIDC_DATA_HEADER,
    AlbIdentityVerifier,
    Identity,
    KeyUnavailable,
    NotAuthenticated,
    alb_region,
    fetch_key_from,
)

log = logging.getLogger(__name__)


class ConsoleDenied(Exception):
    """A console request without a verified identity: answered as a page, 401 or 503."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


IdentityCheck = Callable[[Request], Awaitable[Identity]]


def identity_check(settings: Settings) -> IdentityCheck:
    """How each console request learns who is asking (CONSOLE_AUTH)."""
    if settings.console_auth == "none":

        async def local_developer(request: Request) -> Identity:
            return Identity(LOCAL_DEVELOPER)

        return local_developer
    try:
        arn = settings.console_alb_arn or ""
        region = alb_region(arn)
    except ValueError:
        raise ConfigError(
            "CONSOLE_ALB_ARN must be the internal load balancer's ARN when CONSOLE_AUTH=alb"
        ) from None
    verifier = AlbIdentityVerifier(arn, fetch_key_from(settings.console_alb_key_url, region))

    async def signed_by_the_load_balancer(request: Request) -> Identity:
        try:
            return await verifier.verify(request.headers.get(OIDC_DATA_HEADER))
        except NotAuthenticated as exc:
            log.warning("console: identity refused", extra={"reason": exc.reason})
            raise ConsoleDenied(401) from None
        except KeyUnavailable as exc:
            log.error("console: identity cannot be checked", extra={"reason": str(exc)})
            raise ConsoleDenied(503) from None

    return signed_by_the_load_balancer


async def identity(request: Request) -> Identity:
    check: IdentityCheck = request.app.state.console_identity
    return await check(request)


Who = Annotated[Identity, Depends(identity)]

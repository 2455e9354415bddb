"""Deadlines that travel with a request (ARCHITECTURE §3).

Each hop tells the next how long its own caller still waits, in the header
``X-Request-Deadline-Ms``: whole milliseconds, counted from when the request is sent. The
next hop's deadline is the smaller of that (less the time it needs to answer,
``ANSWER_RESERVE_S``) and its own ``REQUEST_TIMEOUT``, so no tier
keeps working on a call its caller has given up on; a request whose deadline has passed
(``0``) is answered 504 at once, without calling further.

A value that is not 1 to 9 ASCII digits is refused with a 400 naming the header: it is
input like any other, and a deadline silently ignored would be a caller's wait silently
broken.
"""

from __future__ import annotations

import re

from query_service.domain.errors import UPSTREAM_TIMEOUT, FieldError, Problem, invalid

DEADLINE_HEADER = "X-Request-Deadline-Ms"
# What a tier keeps of its caller's time to turn an abandoned call into its own answer and
# send it back: its 504 then reaches a caller that is still waiting, and the tiers give up
# in order, the deepest first.
ANSWER_RESERVE_S = 0.1
_DIGITS = re.compile(r"[0-9]{1,9}")


def caller_deadline(value: str | None) -> float | None:
    """Seconds this tier may spend on its upstream call, from its caller's header (what
    the caller still waits, less ``ANSWER_RESERVE_S``); None when the caller did not say."""
    if value is None:
        return None
    if not _DIGITS.fullmatch(value.strip()):
        raise invalid(
            [FieldError(DEADLINE_HEADER, "must be a whole number of milliseconds, 0-999999999")]
        )
    return int(value) / 1000 - ANSWER_RESERVE_S


def deadline_header(seconds: float) -> str:
    """The header value for ``seconds`` left, rounded down: never promise more time."""
    return str(max(0, int(seconds * 1000)))


def deadline_passed(service: str) -> Problem:
    return Problem(
        UPSTREAM_TIMEOUT, f"The request's deadline passed before the {service} was called."
    )

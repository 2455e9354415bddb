"""What a Lambda makes before SnapStart takes its snapshot (Lambda's runtime hooks).

With SnapStart on (Terraform's ``lambda_snap_start``), Lambda runs a published version's
init once, snapshots the execution environment, and resumes every new environment from that
snapshot: whatever init left for the first invocation, every such cold start still pays. The
Query Result Lambda and the Stream Processor create their DynamoDB client at their first
call, not at import (an import needs no AWS configuration, and tests and the local runtime
import the handlers); that creation is 150-220 ms of CPU (loading the service model). The
runtime calls the functions registered with ``snapshot_restore_py.register_before_snapshot``
just before the snapshot, so a client made there is in the snapshot.

The python3.12 managed runtime ships ``snapshot_restore_py``. Where it is absent (locally,
in a test environment without it) nothing is registered; where it is present but SnapStart
is off, the runtime never calls the hooks. Either way the first call creates the client, as
without this module.

What survives a restore (AWS's SnapStart documentation): under SnapStart Lambda gives the SDK
container credentials, which botocore refreshes once they expire, so a client made before
the snapshot signs with current ones after a restore; and the client opens no connection
until its first request, so the snapshot holds none. Nothing secret is made here: the cursor
keys are still read at the first paged query.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from botocore.exceptions import BotoCoreError

from query_service.config import ConfigError

log = logging.getLogger(__name__)

Factory = Callable[[], object]


def make_before_snapshot(*factories: Factory) -> bool:
    """Call ``factories`` (cached factories) before the snapshot; whether the runtime's hook
    took them."""
    try:
        from snapshot_restore_py import register_before_snapshot  # type: ignore[import-untyped]
    except ImportError:
        return False
    register_before_snapshot(make_now, *factories)
    return True


def make_now(*factories: Factory) -> None:
    """Each factory's object, made now. One that cannot be made (the settings refused, or
    botocore could not build the client) is logged and left to the first call, which then
    fails as it would have without the hook, with the problem the caller gets."""
    for factory in factories:
        try:
            factory()
        except (ConfigError, BotoCoreError) as error:
            log.error(
                "not made before the snapshot",
                extra={"factory": factory.__qualname__, "error": type(error).__name__},
            )

"""Schemathesis against the running stack: the ECS handler directly and the public gateway.

Cases are generated from the ECS handler's own OpenAPI document, valid (positive) and
invalid (negative), sent over real HTTP through every tier down to DynamoDB Local, and each
answer is checked: never a 5xx, a documented status, the documented content type, headers
and body shape, and invalid input rejected. Every operation is fuzzed on its own, so a
failure names the operation and the request that caused it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.cost(20)]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Invalid input may be refused for its size as well as its shape.
CONFIG = {
    "checks": {
        "negative_data_rejection": {"expected-statuses": ["400", "404", "405", "413", "414", "431"]}
    }
}
EXAMPLES_PER_OPERATION_AND_MODE = 30


@dataclass
class Tally:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def fuzz_one(strategy: Any, label: str, base_url: str, session: Any, tally: Tally) -> None:
    """Up to EXAMPLES_PER_OPERATION_AND_MODE cases of one operation; failures go in tally."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        tally.cases += 1
        try:
            response = case.call_and_validate(
                base_url=base_url, session=session, checks=CHECKS, timeout=15
            )
        except FailureGroup as failure:
            tally.failures.append(f"{label}: {failure}")
            return
        tally.statuses[response.status_code] += 1

    run()


def fuzz(openapi_url: str, base_url: str, path_regex: str) -> Tally:
    schema = schemathesis.openapi.from_url(
        openapi_url, config=SchemathesisConfig.from_dict(CONFIG)
    ).include(path_regex=path_regex)
    tally = Tally()
    session = requests.Session()
    for loaded in schema.get_all_operations():
        operation = loaded.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            label = f"{operation.label} ({mode.value})"
            try:
                fuzz_one(
                    operation.as_strategy(generation_mode=mode), label, base_url, session, tally
                )
            except Unsatisfiable:
                # No invalid request exists for an operation without inputs (GET /health).
                assert mode is GenerationMode.NEGATIVE
    return tally


def report(name: str, tally: Tally) -> str:
    return f"{name}: {tally.cases} cases, statuses {dict(sorted(tally.statuses.items()))}"


# About 1,300 cases through two tiers: on a loaded machine more than the suite's 120 s.
@pytest.mark.timeout(360)
def test_fuzzing_the_ecs_handler_and_the_public_gateway_finds_no_error(stack: Stack) -> None:
    openapi = f"{stack.ecs}/openapi.json"
    ecs = fuzz(openapi, stack.ecs, r"^/(query|failed|health)")
    public = fuzz(openapi, stack.public, r"^/(query|failed)")
    print(report("ecs handler", ecs))
    print(report("public gateway", public))

    failures = ecs.failures + public.failures
    assert not failures, f"{len(failures)} failing cases; the first:\n\n" + "\n\n".join(
        failures[:5]
    )
    assert ecs.cases + public.cases >= 1000
    for tally in (ecs, public):
        assert not [status for status in tally.statuses if status >= 500]
        # Both kinds of answer were reached: fuzzing that only ever hit 400 would prove little.
        assert tally.statuses[200] > 100 and tally.statuses[400] > 100

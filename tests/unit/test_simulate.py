"""The simulator's traffic: what it writes must be what the push sender would write."""

from __future__ import annotations

import pytest

from query_service.domain.records import Record
from query_service.local.simulate import Plan, plan_records
from query_service.storage.projection import project_record

NOW = 1_795_500_000_000


def test_every_user_gets_every_transaction_then_an_outcome() -> None:
    sent, outcomes = plan_records(Plan(users=7, transactions=3, failure_rate=0.3, seed=5), NOW)
    assert len(sent) == len(outcomes) == 21
    assert len({(r["transaction_id"], r["user_id"]) for r in sent}) == 21
    for before, after in zip(sent, outcomes, strict=True):
        assert before["status"] == "SENT"
        assert after["status"] in {"DELIVERED", "FAILED"}
        assert after["updated_at"] > before["updated_at"]
        assert after["created_at"] == before["created_at"] <= NOW
        assert ("error_msg" in after) == (after["status"] == "FAILED")
        Record.from_mapping(after)  # a valid record
        assert "device_token" not in project_record(after)


@pytest.mark.parametrize(("rate", "failed"), [(0.0, 0), (1.0, 500)])
def test_the_failure_rate_is_honoured_at_its_bounds(rate: float, failed: int) -> None:
    _, outcomes = plan_records(Plan(users=50, transactions=10, failure_rate=rate, seed=1), NOW)
    assert sum(o["status"] == "FAILED" for o in outcomes) == failed


def test_runs_do_not_overwrite_each_other_and_a_seed_repeats_the_traffic() -> None:
    first, _ = plan_records(Plan(2, 2, 0.5, seed=9), NOW)
    second, _ = plan_records(Plan(2, 2, 0.5, seed=9), NOW)
    assert {r["transaction_id"] for r in first}.isdisjoint({r["transaction_id"] for r in second})
    strip = [{k: v for k, v in r.items() if k != "transaction_id"} for r in first]
    assert strip == [{k: v for k, v in r.items() if k != "transaction_id"} for r in second]


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Plan(users=0, transactions=1, failure_rate=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        Plan(users=1, transactions=1, failure_rate=1.5)

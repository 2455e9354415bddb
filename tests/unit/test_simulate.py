"""The simulator's traffic: what it writes must be what the push sender would write."""

from __future__ import annotations

from collections import Counter

import pytest

from query_service.domain.records import Record
from query_service.local.simulate import RETRIED_ERROR, Outcome, Plan, plan_records
from query_service.storage.projection import project_record

NOW = 1_795_500_000_000


def test_every_user_gets_every_transaction_then_an_outcome() -> None:
    traffic = plan_records(Plan(users=7, transactions=3, failure_rate=0.3, seed=5), NOW)
    sent, outcomes = traffic.sent, traffic.outcomes
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
    traffic = plan_records(Plan(users=50, transactions=10, failure_rate=rate, seed=1), NOW)
    assert sum(o["status"] == "FAILED" for o in traffic.outcomes) == failed
    assert sum(o["status"] == "FAILED" for o in traffic.retried) == len(traffic.retried) * rate


def test_deliveries_that_timed_out_are_sent_again_and_have_a_second_outcome() -> None:
    traffic = plan_records(Plan(users=40, transactions=10, failure_rate=0.5, seed=2), NOW)
    timed_out = [o for o in traffic.outcomes if o.get("error_msg") == RETRIED_ERROR]
    assert timed_out and len(traffic.resent) == len(traffic.retried) == len(timed_out)
    for failed, again, final in zip(timed_out, traffic.resent, traffic.retried, strict=True):
        key = (failed["transaction_id"], failed["user_id"])
        assert (again["transaction_id"], again["user_id"]) == key
        assert (final["transaction_id"], final["user_id"]) == key
        assert again["status"] == "SENT" and final["status"] in {"DELIVERED", "FAILED"}
        assert failed["updated_at"] < again["updated_at"] < final["updated_at"]
        assert ("error_msg" in final) == (final["status"] == "FAILED")
    for round_ in traffic.rounds:  # a round is one batch write: one write per delivery
        assert len({(r["transaction_id"], r["user_id"]) for r in round_}) == len(round_)


def test_runs_do_not_overwrite_each_other_and_a_seed_repeats_the_traffic() -> None:
    first = plan_records(Plan(2, 2, 0.5, seed=9), NOW).sent
    second = plan_records(Plan(2, 2, 0.5, seed=9), NOW).sent
    assert {r["transaction_id"] for r in first}.isdisjoint({r["transaction_id"] for r in second})
    strip = [{k: v for k, v in r.items() if k != "transaction_id"} for r in first]
    assert strip == [{k: v for k, v in r.items() if k != "transaction_id"} for r in second]


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Plan(users=0, transactions=1, failure_rate=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        Plan(users=1, transactions=1, failure_rate=1.5)


def test_the_printed_funnel_is_each_deliverys_final_status() -> None:
    traffic = plan_records(Plan(users=40, transactions=5, failure_rate=0.5, seed=2), NOW)
    finals = traffic.finals()
    assert len(finals) == 200
    # a delivery retried after a timeout counts by its second outcome, not its first
    assert all(
        f in traffic.retried
        for f in finals
        if (f["transaction_id"], f["user_id"])
        in {(r["transaction_id"], r["user_id"]) for r in traffic.resent}
    )
    failed = [f for f in finals if f["status"] == "FAILED"]
    outcome = Outcome(
        traffic.run,
        5,
        Counter(f["status"] for f in finals),
        Counter(f["error_msg"] for f in failed),
        1.0,
    )
    assert outcome.deliveries == 200 and outcome.failed == len(failed) > 0
    text = outcome.funnel()
    assert text.startswith(f"funnel of run {traffic.run} (5 transactions): 200 deliveries: ")
    assert f"DELIVERED {200 - len(failed)}, FAILED {len(failed)}; failure reasons: " in text

"""Deletion by full sweep is fail-closed: only an accepted sweep deletes, and the safety valve holds.

Accepted: the sweep's terminal row is `success`, or it reconciled and var
confirm_deletions_sweep_id (env DESCOPE_CONFIRM_DELETIONS_SWEEP_ID) names it. A held sweep fails
`dbt build` through assert_no_held_users_sweep, after the marts are built, until it is confirmed
or a later sweep is accepted.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.transform.conftest import (
    NOW,
    Landing,
    assert_marts_built,
    build,
    failed_nodes,
    failing_rows,
    query,
    user,
)

T0 = NOW - timedelta(days=2)  # every user landed
T1 = NOW - timedelta(days=1)  # sweeps start


def live_users(landing: Landing) -> set[str]:
    return {r[0] for r in query(landing.path, "select user_id from descope_data_v2.users")}


def land_users_then_a_sweep_that_reads_only_a(landing: Landing) -> None:
    landing.users(user("a"), user("b"), user("c"), extracted_at=T0)
    landing.users(user("a"), extracted_at=T1 + timedelta(minutes=5), batch="sweep-batch")
    landing.audit_run(cursor_to=NOW)


def test_only_a_successful_sweep_deletes_the_users_it_did_not_read(landing: Landing) -> None:
    land_users_then_a_sweep_that_reads_only_a(landing)
    # Every way a sweep can end without proving that b and c are gone: none of them deletes.
    landing.run(
        stream="users",
        status="partial",
        mode="full",
        started_at=T1,
        finished_at=T1 + timedelta(minutes=1),
        sweep_id="checkpoint-only",
        sweep_started_at=T1,
    )
    landing.sweep_end("unreconciled", T1, T1 + timedelta(minutes=2), "incomplete", reconciled=False, reason="short")
    landing.sweep_end("reconciled-but-incomplete", T1, T1 + timedelta(minutes=3), "incomplete", reconciled=True)
    landing.run(
        stream="users",
        status="failed",
        mode="full",
        started_at=T1,
        finished_at=T1 + timedelta(minutes=4),
        sweep_id="failed",
        sweep_started_at=T1,
        error="boom",
    )
    landing.run(
        stream="users", status="success", mode="incremental", started_at=T1, finished_at=T1 + timedelta(minutes=5)
    )
    outcome = build(landing.path)
    assert outcome.success, outcome.failures
    assert live_users(landing) == {"a", "b", "c"}

    landing.sweep_end("accepted", T1, T1 + timedelta(minutes=6), "success", reconciled=True, would_remove=2)
    outcome = build(landing.path)
    assert outcome.success, outcome.failures
    assert live_users(landing) == {"a"}
    assert query(landing.path, "select user_id from descope_data_v2.users_clean") == [("a",)]


@pytest.fixture
def held_sweep(landing: Landing) -> Landing:
    land_users_then_a_sweep_that_reads_only_a(landing)
    landing.sweep_end(
        "sweep-42",
        T1,
        T1 + timedelta(minutes=6),
        "incomplete",
        reconciled=True,
        held=True,
        would_remove=2,
        live_before=3,
        users_seen=1,
        reason="would remove 67% of users",
    )
    return landing


def test_a_held_sweep_fails_the_build_after_the_marts_and_says_how_to_confirm(held_sweep: Landing) -> None:
    outcome = build(held_sweep.path)

    assert not outcome.success
    assert failed_nodes(outcome) == ["test assert_no_held_users_sweep"]
    assert_marts_built(outcome)
    assert live_users(held_sweep) == {"a", "b", "c"}  # nobody removed
    (row,) = failing_rows(held_sweep.path, "assert_no_held_users_sweep")
    assert (row["sweep_id"], row["would_remove"], row["live_before"]) == ("sweep-42", 2, 3)
    problem = row["problem"]
    assert "would remove 2 of 3 live users" in problem
    assert """dbt build --vars '{confirm_deletions_sweep_id: "sweep-42"}'""" in problem
    assert "DESCOPE_CONFIRM_DELETIONS_SWEEP_ID=sweep-42" in problem


def test_confirming_the_held_sweep_by_var_applies_it(held_sweep: Landing) -> None:
    outcome = build(held_sweep.path, {"confirm_deletions_sweep_id": "sweep-42"})
    assert outcome.success, outcome.failures
    assert live_users(held_sweep) == {"a"}


def test_confirming_the_held_sweep_by_environment_variable_applies_it(
    held_sweep: Landing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESCOPE_CONFIRM_DELETIONS_SWEEP_ID", "sweep-42")
    outcome = build(held_sweep.path)
    assert outcome.success, outcome.failures
    assert live_users(held_sweep) == {"a"}


def test_confirming_another_sweep_leaves_the_valve_shut(held_sweep: Landing) -> None:
    outcome = build(held_sweep.path, {"confirm_deletions_sweep_id": "sweep-41"})
    assert failed_nodes(outcome) == ["test assert_no_held_users_sweep"]
    assert live_users(held_sweep) == {"a", "b", "c"}


def test_a_later_accepted_sweep_clears_the_valve(held_sweep: Landing) -> None:
    t2 = T1 + timedelta(hours=1)
    held_sweep.users(user("a"), user("b"), extracted_at=t2 + timedelta(minutes=5), batch="sweep-2")
    held_sweep.sweep_end("sweep-43", t2, t2 + timedelta(minutes=6), "success", reconciled=True, would_remove=1)
    outcome = build(held_sweep.path)
    assert outcome.success, outcome.failures
    assert live_users(held_sweep) == {"a", "b"}


def test_confirming_a_sweep_that_has_not_ended_deletes_nobody(landing: Landing) -> None:
    land_users_then_a_sweep_that_reads_only_a(landing)
    # only checkpoints so far, even one whose details claim a reconciliation
    for minutes, status in ((1, "partial"), (2, "failed")):
        landing.run(
            stream="users",
            status=status,
            mode="full",
            started_at=T1,
            finished_at=T1 + timedelta(minutes=minutes),
            sweep_id="still-running",
            sweep_started_at=T1,
            details={"reconciled": True, "held": False, "would_remove": 2, "live_before": 3},
        )
    outcome = build(landing.path, {"confirm_deletions_sweep_id": "still-running"})
    assert outcome.success, outcome.failures
    assert live_users(landing) == {"a", "b", "c"}


def test_a_user_extracted_at_the_very_instant_the_accepted_sweep_started_was_read_by_it(landing: Landing) -> None:
    """Only users last extracted strictly before the sweep started are missed by it (a clock that
    stands still, or a coarse one, stamps the sweep's start and its first page alike)."""
    landing.users(user("a"), user("b"), extracted_at=T0)
    landing.users(user("a"), extracted_at=T1, batch="sweep-batch")
    landing.audit_run(cursor_to=NOW)
    landing.sweep_end("s", T1, T1 + timedelta(minutes=6), "success", reconciled=True, would_remove=1)
    outcome = build(landing.path)
    assert outcome.success, outcome.failures
    assert live_users(landing) == {"a"}

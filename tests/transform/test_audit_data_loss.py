"""Audit data loss fails `dbt build` (after the marts) until acknowledged; the cursor check warns.

assert_no_audit_data_loss errors on every `data_loss` row that finished after var
acknowledge_audit_data_loss_through (env DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH).
assert_audit_cursor_within_retention warns when the audit cursor, the greatest cursor_to of rows
with status success, partial, incomplete or data_loss, is older than the retention.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.transform.conftest import (
    NOW,
    Landing,
    assert_marts_built,
    build,
    event,
    failed_nodes,
    failing_rows,
    query,
    user,
)

LOST_AT = NOW - timedelta(hours=3)  # when the extractor recorded the loss (finished_at)


@pytest.fixture
def lost_events(landing: Landing) -> Landing:
    landing.users(user("u1"), extracted_at=LOST_AT)
    landing.events(event("e1", "LoginSucceed", "u1", LOST_AT - timedelta(hours=1), "81.2.69.160"), extracted_at=LOST_AT)
    landing.audit_run(
        "data_loss",
        started_at=LOST_AT,
        finished_at=LOST_AT,
        cursor_from=NOW - timedelta(days=45),
        cursor_to=NOW - timedelta(days=30),
        error="audit events older than the 30-day retention were never read",
    )
    landing.audit_run(cursor_to=LOST_AT, started_at=LOST_AT, finished_at=LOST_AT + timedelta(seconds=5))
    return landing


def test_data_loss_fails_the_build_after_the_marts_and_says_how_to_acknowledge(lost_events: Landing) -> None:
    outcome = build(lost_events.path)

    assert not outcome.success
    assert failed_nodes(outcome) == ["test assert_no_audit_data_loss"]
    assert_marts_built(outcome)
    assert query(lost_events.path, "select event_id from descope_data_v2.user_logins") == [("e1",)]
    (row,) = failing_rows(lost_events.path, "assert_no_audit_data_loss")
    stamp = str(LOST_AT)
    assert row["finished_at"] == LOST_AT
    assert row["problem"].startswith("audit_events: events lost for good, never read between ")
    assert f"dbt build --vars '{{acknowledge_audit_data_loss_through: \"{stamp}\"}}'" in row["problem"]
    assert f"DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH='{stamp}'" in row["problem"]


def test_acknowledging_through_the_loss_passes(lost_events: Landing) -> None:
    outcome = build(lost_events.path, {"acknowledge_audit_data_loss_through": str(LOST_AT)})
    assert outcome.success, outcome.failures


def test_acknowledging_by_environment_variable_passes(lost_events: Landing, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH", str(LOST_AT + timedelta(minutes=1)))
    outcome = build(lost_events.path)
    assert outcome.success, outcome.failures


def test_an_acknowledgement_before_the_loss_or_not_a_time_does_not_cover_it(lost_events: Landing) -> None:
    outcome = build(lost_events.path, {"acknowledge_audit_data_loss_through": str(LOST_AT - timedelta(seconds=1))})
    assert failed_nodes(outcome) == ["test assert_no_audit_data_loss"]
    outcome = build(lost_events.path, {"acknowledge_audit_data_loss_through": "yesterday"})
    assert failed_nodes(outcome) == ["test assert_no_audit_data_loss"]
    (row,) = failing_rows(lost_events.path, "assert_no_audit_data_loss")
    assert "is not a timestamp (yesterday)" in row["problem"]


def cursor_warnings(outcome) -> list[str]:
    return [w for w in outcome.warnings if w.startswith("test assert_audit_cursor_within_retention:")]


def test_the_audit_cursor_counts_incomplete_and_data_loss_rows(landing: Landing) -> None:
    old = NOW - timedelta(days=40)
    landing.audit_run(cursor_to=old)
    landing.audit_run("failed", cursor_to=NOW)  # a failed run proves nothing
    outcome = build(landing.path)
    assert outcome.success, outcome.failures
    assert len(cursor_warnings(outcome)) == 1

    landing.audit_run("incomplete", cursor_to=NOW - timedelta(days=1))
    outcome = build(landing.path)
    assert outcome.success, outcome.failures
    assert cursor_warnings(outcome) == []


def test_a_data_loss_row_moves_the_audit_cursor(landing: Landing) -> None:
    landing.audit_run(cursor_to=NOW - timedelta(days=40))
    landing.audit_run(
        "data_loss",
        started_at=LOST_AT,
        finished_at=LOST_AT,
        cursor_from=NOW - timedelta(days=40),
        cursor_to=NOW - timedelta(days=29),
    )
    outcome = build(landing.path, {"acknowledge_audit_data_loss_through": str(LOST_AT)})
    assert outcome.success, outcome.failures
    assert cursor_warnings(outcome) == []

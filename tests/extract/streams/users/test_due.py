"""When a sweep is due and which accepted sweep a run measures against (`streams/users/due.py`), and a
count that collapsed (`streams/users/__init__.py`)."""

from __future__ import annotations

from datetime import timedelta

import duckdb

from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import to_ms
from tests.conftest import cursor, logged, query, settings_for
from tests.extract.streams.users.conftest import extract_users, fixed_clock_world, ticking


def test_a_full_refresh_starts_a_sweep_and_says_why(simulator, tmp_path):
    sim = simulator(users=20)
    db = tmp_path / "w.duckdb"
    first = extract_users(settings_for(sim, db)).streams[0]
    assert first.status == "success" and first.details["sweep_reason"] == "no reconciled sweep yet"
    again = extract_users(settings_for(sim, db, full_refresh=True)).streams[0]
    assert again.status == "success"
    assert again.details["sweep_reason"] == "--full-refresh"


def test_a_sweep_is_due_only_once_the_last_reconciled_one_is_older_than_reconcile_days(simulator, tmp_path):
    sim, clock, _ = fixed_clock_world(simulator)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, reconcile_days=2)

    def run(now):
        return run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]

    swept = run(ticking(clock))  # each run row a millisecond apart (a clock standing still ties them)
    assert swept.details["sweep_reason"] == "no reconciled sweep yet" and str(swept.status) == "success"
    [(finished,)] = query(
        db, "select finished_at from descope_raw._sync_runs where stream = 'users' and status = 'success'"
    )
    exactly = run(lambda: finished + timedelta(days=2))  # the sweep finished exactly two days ago
    assert str(exactly.status) == "success" and "sweep_reason" not in exactly.details
    clock[0] = to_ms(finished + timedelta(days=2, seconds=1)) / 1000
    over = run(ticking(clock))
    assert over.details["sweep_reason"] == "the last reconciled sweep is 2 days old"


def test_a_last_reconciled_sweep_older_than_reconcile_days_starts_a_new_one(simulator, tmp_path):
    sim = simulator(users=100)
    db = tmp_path / "w.duckdb"
    extract_users(settings_for(sim, db))
    summary = extract_users(settings_for(sim, db, reconcile_days=1e-9))
    assert "days old" in summary.streams[0].details["sweep_reason"]
    summary = extract_users(settings_for(sim, db))
    assert summary.streams[0].details["mode"] == "incremental"


def test_a_warehouse_whose_full_runs_predate_sweep_ids_gets_a_reconciled_sweep_first(simulator, tmp_path):
    """Full runs written before sweeps had ids say nothing about which users were live when: the first
    run after the upgrade sweeps, even though the counts agree, instead of trusting them as a baseline."""
    sim = simulator(users=40)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    assert extract_users(settings).status == "success"
    with duckdb.connect(str(db)) as con:
        con.execute("update descope_raw._sync_runs set sweep_id = null, sweep_started_at = null where mode = 'full'")
    after_upgrade = extract_users(settings).streams[0]
    assert str(after_upgrade.status) == "success"
    assert after_upgrade.details["sweep_reason"] == "no reconciled sweep yet"
    assert after_upgrade.details["reconciled"] is True


def test_a_held_sweep_is_swept_again_and_says_why(simulator, tmp_path):
    sim = simulator(users=200)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract_users(settings)
    for _ in range(40):  # 20%, above the 10% a sweep may remove unconfirmed
        sim.world.delete_user(emit_event=False)
    held = extract_users(settings).streams[0]
    assert str(held.status) == "incomplete" and held.details["held"] is True
    again = extract_users(settings).streams[0]
    assert again.details["mode"] == "full"
    assert again.details["sweep_reason"] == "the last sweep was held back by the deletion safety valve"


def test_of_two_overlapping_accepted_sweeps_the_one_that_started_last_is_the_baseline_as_in_dbt(simulator, tmp_path):
    """Two overlapping sweeps: the accepted one started first but finished last; the held one, confirmed,
    started last, so it is the baseline (descope_sync/sweeps.py, the rule dbt deletes by): the users it
    did not see count as gone, and Descope's count, which says otherwise, starts a sweep."""
    from datetime import timedelta

    from descope_sync.contract import RunMode, RunStatus
    from descope_sync.landing.base import SyncRun
    from descope_sync.landing.duckdb import DuckDBLandingWriter
    from descope_sync.timeutil import utcnow

    sim = simulator(users=100)
    users = sorted(sim.world.truth()["users"].items())
    t1 = utcnow() - timedelta(hours=2)

    def landed(batch, at):
        return [
            {"user_id": uid, "payload": user, "_batch_id": batch, "_extracted_at": at}
            for uid, user in batch_users[batch]
        ]

    batch_users = {"accepted": users, "held": users[:80]}  # the held sweep saw 20 fewer users
    db = tmp_path / "w.duckdb"
    with DuckDBLandingWriter(db) as writer:
        writer.ensure_tables()
        writer.append("users", landed("accepted", t1 + timedelta(minutes=1)))
        writer.append("users", landed("held", t1 + timedelta(minutes=12)))
        common = {"run_id": "earlier", "stream": "users", "mode": RunMode.FULL}
        writer.record_run(  # the held sweep: started after the accepted one, finished before it
            SyncRun(
                **common,
                status=RunStatus.INCOMPLETE,
                started_at=t1 + timedelta(minutes=10),
                finished_at=t1 + timedelta(minutes=20),
                sweep_id="held",
                sweep_started_at=t1 + timedelta(minutes=10),
                details={"reconciled": True, "held": True},
            )
        )
        writer.record_run(
            SyncRun(
                **common,
                status=RunStatus.SUCCESS,
                started_at=t1,
                finished_at=t1 + timedelta(minutes=30),
                cursor_to=t1 + timedelta(minutes=29),
                sweep_id="accepted",
                sweep_started_at=t1,
                details={"reconciled": True, "held": False},
            )
        )
    settings = settings_for(sim, db, confirm_deletions_sweep_id="held")
    stream = extract_users(settings).streams[0]
    # the confirmed sweep, which started last, is the baseline: it saw 80 of the 100 users
    assert stream.details["warehouse_live_users"] == 80
    assert stream.details["sweep_reason"] == "Descope counts 100 users, the warehouse holds 80 live"


def test_a_count_that_collapses_moves_no_cursor_and_deletes_nobody(simulator, tmp_path, caplog):
    """Descope suddenly counting far fewer users than the warehouse holds live (an outage, a wrong
    project ID, a mass deletion) is not proof: the run ends incomplete and claims nothing."""
    sim = simulator(users=100)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    assert extract_users(settings).status == "success"
    live = len(sim.world.truth()["users"])
    cursor_before = cursor(db, "users")
    sim.world.delete_users(sorted(sim.world.truth()["users"])[: live * 6 // 10], event=None)
    left = len(sim.world.truth()["users"])
    stream = extract_users(settings).streams[0]
    assert str(stream.status) == "incomplete"
    collapsed = (
        f"users: Descope reports {left} users but the warehouse holds {live} live: an outage, a wrong project "
        "ID, or a mass deletion; the cursor does not move and nobody is deleted"
    )
    assert collapsed in logged(caplog, "WARNING")
    assert stream.details["warehouse_live_users"] == live and stream.details["source_total"] == left
    assert stream.details["sweep_reason"] == "Descope's count collapsed" and stream.cursor_to is None
    cursor_after = cursor(db, "users")
    assert cursor_after == cursor_before
    accepted = "select count(*) from descope_raw._sync_runs where stream = 'users' and status = 'success'"
    assert query(db, accepted) == [(1,)]  # the collapsed sweep is not accepted: nobody is deleted

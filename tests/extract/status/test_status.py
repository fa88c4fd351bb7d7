"""`descope-sync status` is never falsely healthy: each problem through the real CLI, on a warehouse
landed by real runs against the simulator (docs/design.md, "What status checks")."""

from __future__ import annotations

import time
from datetime import timedelta

import duckdb

from descope_sim import ChaosConfig, World
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import utcnow
from tests.conftest import settings_for
from tests.extract.cli.commands import run_cli, status_of


def extract(sim, db, *, hours_ago: float = 0, streams=None, **overrides):
    """One real extract into `db`, its clock `hours_ago` behind (negative: ahead of) the real one."""
    kwargs = {"streams": list(streams)} if streams else {}
    return run_extract(
        settings_for(sim, db, **overrides),
        now=lambda: utcnow() - timedelta(hours=hours_ago),
        progress=SilentProgress(),
        **kwargs,
    )


def stream_status(summary, name: str) -> str:
    return str(next(s for s in summary.streams if s.stream == name).status)


def test_a_users_sweep_that_never_reconciles_is_a_problem_though_every_run_lands_a_fresh_incremental_success(
    simulator, tmp_path
):
    sim = simulator(world=World(seed=3, users=20, bulk_import=0), max_offset=4)  # offsets past 4 answer nothing
    second = int(time.time()) - 1000
    for i in range(10):  # ten users in one second, paging from either end reaches eight
        sim.world.put_user({"userId": f"Udense{i}", "createdTime": second, "email": f"dense{i}@example.com"})
    db = tmp_path / "w.duckdb"
    for _ in range(2):
        summary = extract(sim, db, users_page_size=4)
        assert stream_status(summary, "users") == "incomplete"
        assert stream_status(summary, "audit_events") == "success"
    result, body, streams = status_of(db)
    assert result.returncode == 8, result.stdout
    users = streams["users"]
    assert users["stale"] is False and users["last_run_status"] == "incomplete"
    assert users["checks"] == ["incomplete", "deletions_not_applied"]
    assert users["sweep"]["accepted"] is None and users["sweep"]["last_finished"]["unproved"]
    assert "paging reached only 8" in users["problems"][1] and "was not accepted" in users["problems"][1]
    assert body["problems"] == users["problems"]  # the other streams are healthy
    assert streams["audit_events"]["checks"] == [] and streams["ip_locations"]["checks"] == []


def test_a_held_sweep_is_a_problem_from_the_first_one_until_it_is_confirmed(simulator, tmp_path):
    sim = simulator(world=World(seed=3, users=200, bulk_import=0))
    db = tmp_path / "w.duckdb"
    assert extract(sim, db).status == "success"
    assert status_of(db)[0].returncode == 0
    for _ in range(40):  # 20%, above the 10% a sweep may remove unconfirmed
        sim.world.delete_user(emit_event=False)
    held = extract(sim, db)
    users_run = next(s for s in held.streams if s.stream == "users")
    assert str(users_run.status) == "incomplete" and users_run.details["held"] is True
    sweep_id = users_run.details["sweep_id"]

    result, body, streams = status_of(db)
    assert result.returncode == 8, result.stdout
    users = streams["users"]
    assert users["checks"] == ["incomplete", "deletions_not_applied"]
    assert users["sweep"]["last_finished"]["held"] is True and users["sweep"]["last_finished"]["would_remove"] == 40
    problem = users["problems"][1]
    assert f"sweep {sweep_id} (" in problem and "held back by the deletion valve" in problem
    assert f"DESCOPE_CONFIRM_DELETIONS_SWEEP_ID={sweep_id}" in problem
    assert body["problems"] == users["problems"]

    # Confirmed, the held sweep counts as accepted: what is left is the run that held it.
    confirmed, _, streams = status_of(db, "--confirm-deletions-sweep-id", sweep_id)
    assert confirmed.returncode == 5 and streams["users"]["checks"] == ["incomplete"]
    assert extract(sim, db, confirm_deletions_sweep_id=sweep_id).status == "success"
    env = {"DESCOPE_CONFIRM_DELETIONS_SWEEP_ID": sweep_id}
    assert status_of(db, env_extra=env)[0].returncode == 0
    unconfirmed, _, streams = status_of(db)  # dbt without the confirmation applies nothing either
    assert unconfirmed.returncode == 8 and streams["users"]["checks"] == ["deletions_not_applied"]


def test_a_failed_last_run_is_a_problem_at_once_not_once_it_goes_stale(simulator, tmp_path):
    db = tmp_path / "w.duckdb"
    assert extract(simulator(users=20), db).status == "success"
    broken = simulator(users=20, chaos=ChaosConfig(seed=1, p_429=0, p_5xx=0, p_malformed=1.0, p_mutation=0))
    assert extract(broken, db, streams=["users"]).status == "failed"
    result, body, streams = status_of(db)
    assert result.returncode == 7, result.stdout
    users = streams["users"]
    assert users["stale"] is False and users["checks"] == ["failed"]
    problem = users["problems"][0]
    assert problem.startswith("users: the last run (") and "malformed response body" in problem
    assert body["problems"] == users["problems"]
    human = run_cli(["status", "--duckdb-path", str(db)], {}, timeout=60)
    assert human.returncode == 7 and "users         last run failed at" in human.stdout

    assert extract(simulator(users=20), db, streams=["users"]).status == "success"  # the next run succeeds
    assert status_of(db)[0].returncode == 0


def test_no_accepted_sweep_within_the_reconcile_window_is_a_problem(simulator, tmp_path):
    sim = simulator(users=30)
    db = tmp_path / "w.duckdb"
    assert extract(sim, db, hours_ago=240, streams=["users"]).status == "success"  # the sweep, ten days ago
    fresh = extract(sim, db, reconcile_days=30)  # today's runs, with no sweep due
    assert fresh.status == "success" and fresh.streams[1].details["mode"] == "incremental"

    result, _, streams = status_of(db)  # the default: 7 days plus the 26-hour max age
    assert result.returncode == 8, result.stdout
    users = streams["users"]
    assert users["checks"] == ["deletions_not_applied"] and users["stale"] is False
    assert users["problems"][0].startswith("users: the last accepted sweep (")
    assert "10.0d ago" in users["problems"][0]
    assert 239.9 * 3600 < users["sweep"]["accepted_age_seconds"] < 240.1 * 3600
    assert users["sweep"]["max_age_seconds"] == 7 * 86_400 + 26 * 3600

    assert status_of(db, "--reconcile-days", "8.9")[0].returncode == 8  # 8.9 days + 26 h < 10 days
    assert status_of(db, "--reconcile-days", "9")[0].returncode == 0  # 9 days + 26 h > 10 days
    assert status_of(db, env_extra={"DESCOPE_RECONCILE_DAYS": "30"})[0].returncode == 0
    bad = run_cli(["status", "--duckdb-path", str(db)], {"DESCOPE_RECONCILE_DAYS": "soon"}, timeout=60)
    assert bad.returncode == 1 and "DESCOPE_RECONCILE_DAYS" in bad.stderr


def test_a_row_stamped_in_the_future_is_clock_skew_beyond_five_minutes(simulator, tmp_path):
    sim = simulator(users=20)
    ahead, slightly = tmp_path / "ahead.duckdb", tmp_path / "slightly.duckdb"
    for db in (ahead, slightly):
        assert extract(sim, db).status == "success"
    assert extract(sim, ahead, hours_ago=-2, streams=["users"]).status == "success"  # a clock two hours ahead
    assert extract(sim, slightly, hours_ago=-3 / 60, streams=["users"]).status == "success"  # three minutes

    result, body, streams = status_of(ahead)
    assert result.returncode == 9, result.stdout
    users = streams["users"]
    assert users["checks"] == ["clock_skew"] and users["stale"] is False
    assert users["last_success_age_seconds"] < -1.9 * 3600  # what made it look fresh forever
    assert users["clock_skew"]["status"] == "success"
    assert "in the future" in users["problems"][0] and body["problems"] == users["problems"]
    assert status_of(slightly)[0].returncode == 0


def test_status_reads_a_warehouse_another_reader_holds_open(simulator, tmp_path):
    """Read-only: status takes the shared lock readers share, never the writer's."""
    db = tmp_path / "w.duckdb"
    assert extract(simulator(users=10), db).status == "success"
    reader = duckdb.connect(str(db), read_only=True)
    try:
        result, body, _ = status_of(db)
    finally:
        reader.close()
    assert result.returncode == 0, result.stderr
    assert body["healthy"] is True and body["exit_code"] == 0


def test_unacknowledged_data_loss_outranks_a_failed_last_run(simulator, tmp_path):
    from tests.conftest import land_old_audit_cursor

    db = tmp_path / "w.duckdb"
    land_old_audit_cursor(db, days_ago=40)
    broken = simulator(users=20, chaos=ChaosConfig(seed=1, p_429=0, p_5xx=0, p_malformed=1.0, p_mutation=0))
    assert extract(broken, db, streams=["audit_events"]).status == "failed"  # the loss recorded, then the read failed
    result, body, streams = status_of(db)
    assert result.returncode == 4, result.stdout
    assert streams["audit_events"]["checks"] == ["data_loss", "failed", "stale"]
    assert body["exit_code"] == 4


def test_a_first_sweep_under_way_is_stale_not_a_deletion_problem(simulator, tmp_path, monkeypatch):
    """Before the first sweep ends there is nothing to delete: the stream is stale (no success yet), no more."""
    from tests.conftest import killed_while_appending

    sim = simulator(world=World(seed=3, users=60, bulk_import=0))
    db = tmp_path / "w.duckdb"
    checkpoints = []

    def after_two_checkpoints(table, run):
        if table == "users" and run is not None:
            checkpoints.append(run)
        return len(checkpoints) > 2

    with killed_while_appending(monkeypatch, after_two_checkpoints):
        extract(sim, db, streams=["users"], users_page_size=10)
    result, _, streams = status_of(db)
    users = streams["users"]
    assert users["last_run"]["status"] == "partial" and users["sweep"]["open"] is True
    assert users["sweep"]["accepted"] is None and users["checks"] == ["stale"]
    assert result.returncode == 6


def test_users_runs_without_any_sweep_are_a_deletion_problem(tmp_path):
    """A warehouse whose full runs predate sweep ids: the extractor sweeps at its next run; until then
    nothing it holds proves a deletion."""
    from descope_sync.landing.base import SyncRun
    from descope_sync.landing.duckdb import DuckDBLandingWriter

    db = tmp_path / "w.duckdb"
    now = utcnow()
    with DuckDBLandingWriter(db) as writer:
        writer.ensure_tables()
        writer.record_run(
            SyncRun(run_id="old", stream="users", status="success", mode="full", started_at=now, finished_at=now)
        )
    result, _, streams = status_of(db)
    users = streams["users"]
    assert users["checks"] == ["deletions_not_applied"] and result.returncode == 8
    assert users["problems"] == ["users: no users sweep was ever accepted: users deleted in Descope stay in the marts"]

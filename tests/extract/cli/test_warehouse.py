"""`status` on a warehouse landed by the real pipeline, as a monitor runs it."""

from __future__ import annotations

import pytest

from descope_sync.catalog import STREAMS
from tests.conftest import query
from tests.extract.cli.commands import land, run_cli, status_of


def test_status_of_a_warehouse_the_pipeline_just_landed_is_healthy(simulator, tmp_path):
    sim = simulator(users=40)
    db = tmp_path / "w.duckdb"
    assert land(sim, db).status == "success"
    result, body, streams = status_of(db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert body["healthy"] is True and body["problems"] == [] and body["max_age_seconds"] == 26 * 3600
    assert list(streams) == list(STREAMS)
    for name, stream in streams.items():
        assert stream["last_run"]["status"] == "success", name
        assert stream["stale"] is False and stream["data_loss"] is None
        assert 0 <= stream["last_success_age_seconds"] < 120
    [(audit_cursor,)] = query(db, "select max(cursor_to) from descope_raw._sync_runs where stream = 'audit_events'")
    assert streams["audit_events"]["cursor"] == audit_cursor.isoformat(sep=" ")
    assert 0 <= streams["audit_events"]["lag_seconds"] < 120 and 0 <= streams["users"]["lag_seconds"] < 120
    assert streams["ip_locations"]["cursor"] is None and streams["ip_locations"]["lag_seconds"] is None

    human = run_cli(["status", "--duckdb-path", str(db)], {}, timeout=60)
    assert human.returncode == 0 and human.stdout.startswith("status: healthy")


def test_a_stream_whose_last_success_is_older_than_the_max_age_is_stale_and_exits_6(simulator, tmp_path):
    sim = simulator(users=30)
    db = tmp_path / "w.duckdb"
    # users landed 30 hours ago (audit cannot run on a clock in the past: Descope's retention is real)
    assert land(sim, db, hours_ago=30, streams=["users"]).status == "success"
    others = [s for s in STREAMS if s != "users"]
    assert land(sim, db, streams=others).status == "success"  # today's, without users
    result, body, streams = status_of(db)
    assert result.returncode == 6, result.stdout + result.stderr
    assert body["healthy"] is False
    assert streams["users"]["stale"] is True and streams["audit_events"]["stale"] is False
    assert streams["ip_locations"]["stale"] is False
    assert 29.9 * 3600 < streams["users"]["last_success_age_seconds"] < 30.1 * 3600
    assert 29.9 * 3600 < streams["users"]["lag_seconds"] < 30.1 * 3600
    assert [p.split(":")[0] for p in body["problems"]] == ["users"]

    relaxed, body, _ = status_of(db, "--max-age-seconds", str(31 * 3600))
    assert relaxed.returncode == 0 and body["healthy"] is True


def test_a_failed_last_run_shows_its_error_and_the_stream_goes_stale(simulator, tmp_path):
    from descope_sim import ChaosConfig

    db = tmp_path / "w.duckdb"
    assert land(simulator(users=20), db, hours_ago=27, streams=["users"]).status == "success"
    broken = simulator(users=20, chaos=ChaosConfig(seed=1, p_429=0, p_5xx=0, p_malformed=1.0, p_mutation=0))
    assert land(broken, db, streams=["users"]).status == "failed"
    result, _, streams = status_of(db)
    assert result.returncode == 7  # failed outranks stale
    users = streams["users"]
    assert users["last_run"]["status"] == "failed" and "malformed response body" in users["last_run"]["error"]
    assert users["stale"] is True and users["last_success_at"] < users["last_run"]["finished_at"]
    assert users["checks"] == ["failed", "stale"]
    human = run_cli(["status", "--duckdb-path", str(db)], {}, timeout=60)
    assert human.returncode == 7 and "last error:" in human.stdout and "UNHEALTHY" in human.stdout


def test_ip_locations_kept_stopped_by_its_budget_with_addresses_waiting_goes_stale(simulator, tmp_path):
    from descope_sync.landing.duckdb import DuckDBLandingWriter
    from descope_sync.pipeline import run_extract
    from descope_sync.timeutil import utcnow
    from tests.conftest import settings_for

    def login_from(address: str, event_id: str) -> None:
        with DuckDBLandingWriter(db) as writer:
            writer.ensure_tables()
            event = {"event_id": event_id, "action": "LoginSucceed", "remote_address": address, "payload": {}}
            writer.append("audit_events", [{**event, "occurred_at": utcnow(), "_extracted_at": utcnow()}])

    sim = simulator(users=5)
    db = tmp_path / "w.duckdb"
    login_from("81.2.69.160", "e1")
    assert land(sim, db, hours_ago=30, streams=["ip_locations"]).status == "success"  # every lookup done, 30 h ago
    login_from("89.160.20.112", "e2")
    starved = settings_for(sim, db, max_seconds=0.000_001)
    for _ in range(2):  # every run since is stopped by its budget before it looks the new address up
        assert run_extract(starved, streams=["ip_locations"]).status == "partial"

    result, body, streams = status_of(db)
    assert result.returncode == 6, result.stdout + result.stderr
    ip = streams["ip_locations"]
    assert ip["last_run"]["status"] == "partial" and ip["stale"] is True
    assert 29.9 * 3600 < ip["last_success_age_seconds"] < 30.1 * 3600
    assert any(p.startswith("ip_locations: last success") for p in body["problems"])
    human = run_cli(["status", "--duckdb-path", str(db)], {}, timeout=60)
    assert human.returncode == 6 and "ip_locations  last run partial at" in human.stdout

    # a run that finishes the lookups is a success again
    assert land(sim, db, streams=["ip_locations"]).status == "success"
    _, _, streams = status_of(db)
    assert streams["ip_locations"]["stale"] is False and streams["ip_locations"]["last_run"]["status"] == "success"
    assert query(db, "select count(*) from descope_raw.ip_locations") == [(2,)]


def test_unacknowledged_data_loss_exits_4_until_it_is_acknowledged(simulator, tmp_path):
    from tests.conftest import land_old_audit_cursor

    sim = simulator(users=20)
    db = tmp_path / "w.duckdb"
    old_cursor = land_old_audit_cursor(db, days_ago=40)
    assert land(sim, db).status == "data_loss"
    result, body, streams = status_of(db)
    assert result.returncode == 4, result.stdout + result.stderr
    loss = streams["audit_events"]["data_loss"]
    assert loss["status"] == "data_loss" and loss["cursor_from"] == old_cursor.isoformat(sep=" ")
    assert body["problems"][0].startswith("audit_events: DATA LOSS not acknowledged")
    assert "DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH=" in body["problems"][0]
    # the last success is fresh: only the loss makes it unhealthy
    assert streams["audit_events"]["stale"] is False

    [(finished_at,)] = query(db, "select finished_at from descope_raw._sync_runs where status = 'data_loss'")
    through = finished_at.isoformat(sep=" ")
    acked, body, streams = status_of(db, env_extra={"DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH": through})
    assert acked.returncode == 0, acked.stdout
    assert streams["audit_events"]["data_loss"] is None and body["acknowledged_data_loss_through"] == through
    too_early, _, _ = status_of(db, "--acknowledge-data-loss-through", str(finished_at.replace(microsecond=0)))
    assert too_early.returncode == 4


def test_status_of_a_missing_warehouse_is_one_line_and_creates_nothing(tmp_path):
    result, body, _ = status_of(tmp_path / "none.duckdb")
    assert result.returncode == 1 and body is None
    assert result.stderr.startswith("descope-sync: error: no warehouse at") and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "none.duckdb").exists()


@pytest.mark.parametrize("flags", [["--max-age-seconds", "0"], ["--max-age-seconds", "soon"], ["--target", "mysql"]])
def test_bad_status_flags_are_usage_errors(tmp_path, flags):
    result = run_cli(["status", "--duckdb-path", str(tmp_path / "w.duckdb"), *flags], {}, timeout=60)
    assert result.returncode == 2


def test_a_bad_acknowledgement_is_one_line_naming_it(simulator, tmp_path):
    db = tmp_path / "w.duckdb"
    land(simulator(users=5), db)
    result = run_cli(["status", "--duckdb-path", str(db), "--acknowledge-data-loss-through", "yesterday"], {})
    assert result.returncode == 1
    assert result.stderr.startswith("descope-sync: error: --acknowledge-data-loss-through must be a UTC timestamp")

"""The CLI as a user runs it: one-line errors, exit codes, and no secret anywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from descope_sync.catalog import STREAM_SPECS, STREAMS
from tests.conftest import query

KEY = "K2sim-secret-key"


def run_cli(args, env_extra, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "descope_sync.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_bad_credentials_give_one_clear_line_and_exit_1(simulator, tmp_path):
    sim = simulator(users=20)
    wrong_key = "K2-this-key-is-wrong-0123456789"
    result = run_cli(
        ["extract"],
        {
            "DESCOPE_PROJECT_ID": sim.project_id,
            "DESCOPE_MANAGEMENT_KEY": wrong_key,
            "DESCOPE_BASE_URL": sim.base_url,
            "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        },
    )
    assert result.returncode == 1
    assert "Descope rejected the management key (401)" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert wrong_key not in result.stdout + result.stderr
    failed = query(tmp_path / "w.duckdb", "select stream, status, error from descope_raw._sync_runs")
    assert failed and all(status == "failed" for _, status, _ in failed)
    assert all(wrong_key not in (error or "") for _, _, error in failed)


def test_missing_management_key_names_the_variable(tmp_path):
    result = run_cli(["extract"], {"DESCOPE_PROJECT_ID": "P123", "DUCKDB_PATH": str(tmp_path / "w.duckdb")})
    assert result.returncode == 1
    assert "DESCOPE_MANAGEMENT_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_bodies_that_never_stop_fail_clearly_and_move_no_cursor(simulator, tmp_path):
    from descope_sync.simulator import ChaosConfig

    sim = simulator(users=20, chaos=ChaosConfig(seed=1, p_429=0, p_5xx=0, p_malformed=1.0, p_mutation=0))
    result = run_cli(
        ["extract", "--streams", "users"],
        {
            "DESCOPE_PROJECT_ID": sim.project_id,
            "DESCOPE_MANAGEMENT_KEY": sim.management_key,
            "DESCOPE_BASE_URL": sim.base_url,
            "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        },
        timeout=120,
    )
    assert result.returncode == 1
    assert "malformed response body" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    cursors = query(tmp_path / "w.duckdb", "select count(*) from descope_raw._sync_runs where status = 'success'")
    assert cursors[0][0] == 0


def test_the_management_key_never_reaches_output_logs_or_tables(simulator, tmp_path):
    sim = simulator(users=60)
    db = tmp_path / "w.duckdb"
    result = run_cli(
        ["-v", "extract"],
        {
            "DESCOPE_PROJECT_ID": sim.project_id,
            "DESCOPE_MANAGEMENT_KEY": sim.management_key,
            "DESCOPE_BASE_URL": sim.base_url,
            "DUCKDB_PATH": str(db),
        },
    )
    assert result.returncode == 0, result.stderr
    assert sim.management_key not in result.stdout + result.stderr
    tables = query(db, "select table_schema, table_name from information_schema.tables")
    for schema, table in tables:
        hits = query(
            db, f'select count(*) from "{schema}"."{table}" as t where cast(t as varchar) like ?', [f"%{KEY}%"]
        )
        assert hits[0][0] == 0, f"{schema}.{table} contains the management key"


# ---------------------------------------------------------------- exit codes (crafted summaries, in process)


def summary_of(*statuses: str, run_status: str | None = None):
    """A RunSummary whose streams end in `statuses` (in contract order); `run_status` fakes what .status says."""
    from descope_sync.contract import STREAMS
    from descope_sync.pipeline import RunSummary
    from descope_sync.streams.result import StreamResult
    from descope_sync.timeutil import utcnow

    now = utcnow()
    summary = RunSummary(
        run_id="crafted",
        started_at=now,
        finished_at=now,
        streams=[
            StreamResult(stream, status=status, message=f"{stream} ended {status}")
            for stream, status in zip(STREAMS, statuses, strict=False)
        ],
    )
    if run_status is not None:  # what RunSummary.status says, whatever its streams say
        summary.__class__ = type("FakedSummary", (RunSummary,), {"status": property(lambda self: run_status)})
    return summary


@pytest.fixture
def in_process(monkeypatch, tmp_path):
    """cli.main() in this process, with settings from the environment and its global hooks restored after."""
    import logging
    import threading

    for name in list(os.environ):
        if name.startswith("DESCOPE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DESCOPE_PROJECT_ID", "P2inprocess")
    monkeypatch.setenv("DESCOPE_MANAGEMENT_KEY", KEY_IN_PROCESS)
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    from descope_sync import cli

    yield cli
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_descope_sync", False):
            root.removeHandler(handler)


KEY_IN_PROCESS = "K2in-process-key-31415926"


def fake_extract(summary, calls):
    def run_extract(settings, *, streams, progress=None, **kwargs):
        calls.append({"settings": settings, "streams": list(streams)})
        return summary

    return run_extract


def fake_dbt(success, calls):
    from descope_sync.transform import DbtOutcome

    def run_dbt(command="build", **kwargs):
        calls.append(command)
        return DbtOutcome(command=command, success=success)

    return run_dbt


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (("success", "success", "success"), 0),
        (("success", "partial", "success"), 3),
        (("data_loss", "success", "success"), 4),
        (("success", "incomplete", "success"), 5),
        (("failed", "success", "success"), 1),
        (("partial", "incomplete"), 5),
        (("data_loss", "incomplete", "partial"), 4),
        (("data_loss", "failed", "partial"), 1),
        (("success", "mystery"), 1),
    ],
)
def test_extract_exits_with_the_code_of_the_worst_status(in_process, monkeypatch, capsys, statuses, expected):
    cli = in_process
    monkeypatch.setattr(cli, "run_extract", fake_extract(summary_of(*statuses, run_status="success"), []))
    assert cli.main(["--json", "extract"]) == expected
    out, err = capsys.readouterr()
    body = json.loads(out)
    worst = {0: "success", 1: "failed", 3: "partial", 4: "data_loss", 5: "incomplete"}[expected]
    assert body["status"] == worst
    assert (err.startswith("descope-sync: error: extract failed") and len(err.splitlines()) == 1) == (expected == 1)
    assert KEY_IN_PROCESS not in out + err


@pytest.mark.parametrize(
    ("status", "dbt_runs", "expected"),
    [("success", True, 0), ("partial", True, 3), ("incomplete", True, 5), ("data_loss", True, 4), ("failed", False, 1)],
)
def test_run_builds_dbt_after_every_extract_but_a_failed_one(
    in_process, monkeypatch, capsys, status, dbt_runs, expected
):
    cli = in_process
    dbt_calls: list[str] = []
    monkeypatch.setattr(cli, "run_extract", fake_extract(summary_of("success", status), []))
    monkeypatch.setattr(cli, "run_dbt", fake_dbt(True, dbt_calls))
    assert cli.main(["run"]) == expected
    assert dbt_calls == (["source freshness", "build"] if dbt_runs else [])
    out, _ = capsys.readouterr()
    assert out.startswith(f"extract: {status}")
    assert ("dbt build skipped: extraction failed" in out) == (not dbt_runs)


@pytest.mark.parametrize("status", ["success", "partial", "data_loss"])
def test_a_dbt_failure_makes_run_exit_1(in_process, monkeypatch, capsys, status):
    cli = in_process
    monkeypatch.setattr(cli, "run_extract", fake_extract(summary_of(status), []))
    monkeypatch.setattr(cli, "run_dbt", fake_dbt(False, []))
    assert cli.main(["run"]) == 1
    assert capsys.readouterr().err.strip() == "descope-sync: error: dbt build failed (see the errors above)"


def test_the_flags_reach_the_settings_and_the_streams(in_process, monkeypatch, capsys):
    cli = in_process
    calls: list[dict] = []
    monkeypatch.setattr(cli, "run_extract", fake_extract(summary_of("success"), calls))
    argv = ["extract", "--streams", "users,audit_events", "--max-seconds", "30", "--reconcile-days", "2"]
    argv += ["--max-delete-fraction", "0.25", "--audit-settle-seconds", "0", "--confirm-deletions-sweep-id", "sw1"]
    argv += ["--audit-actions", "SignUp"]
    assert cli.main(argv) == 0
    settings = calls[0]["settings"]
    assert calls[0]["streams"] == ["users", "audit_events"]
    assert (settings.max_seconds, settings.reconcile_days, settings.max_delete_fraction) == (30.0, 2.0, 0.25)
    assert (settings.audit_settle_seconds, settings.confirm_deletions_sweep_id) == (0.0, "sw1")
    assert settings.audit_actions == ["SignUp", "LoginSucceed", "UserDeleted", "UsersDeleted"]


def test_an_unexpected_error_is_one_line_then_the_scrubbed_traceback(in_process, monkeypatch, capsys):
    cli = in_process

    def explode(settings, **kwargs):
        raise RuntimeError(f"header 'Bearer {settings.project_id}:{settings.management_key.reveal()}\\n' broke")

    monkeypatch.setattr(cli, "run_extract", explode)
    assert cli.main(["extract"]) == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines[0] == "descope-sync: error: unexpected RuntimeError: header 'Bearer P2inprocess:***\\n' broke"
    assert lines[1] == "Traceback (most recent call last):"
    assert "RuntimeError: header 'Bearer P2inprocess:***\\n' broke" in err
    assert KEY_IN_PROCESS not in out + err


# ---------------------------------------------------------------- configuration errors (subprocess, as a user runs it)


def test_a_management_key_created_with_echo_works_and_never_prints(simulator, tmp_path):
    sim = simulator(users=30)
    db = tmp_path / "w.duckdb"
    result = run_cli(
        ["-v", "extract"],
        {
            "DESCOPE_PROJECT_ID": sim.project_id + "\n",
            "DESCOPE_MANAGEMENT_KEY": sim.management_key + "\n",
            "DESCOPE_BASE_URL": sim.base_url,
            "DUCKDB_PATH": str(db),
        },
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert sim.management_key not in result.stdout + result.stderr
    assert query(db, "select count(distinct user_id) from descope_raw.users")[0][0] == 30
    tables = query(db, "select table_schema, table_name from information_schema.tables")
    for schema, table in tables:
        hits = query(
            db, f'select count(*) from "{schema}"."{table}" as t where cast(t as varchar) like ?', [f"%{KEY}%"]
        )
        assert hits[0][0] == 0, f"{schema}.{table} contains the management key"


def test_a_key_with_a_line_break_inside_is_one_line_naming_the_variable(tmp_path):
    result = run_cli(
        ["extract"],
        {
            "DESCOPE_PROJECT_ID": "P123",
            "DESCOPE_MANAGEMENT_KEY": "K2first-line\nsecond-line",
            "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        },
    )
    assert result.returncode == 1
    assert result.stderr.startswith("descope-sync: error: DESCOPE_MANAGEMENT_KEY contains whitespace")
    assert len(result.stderr.splitlines()) == 1
    assert "printf '%s'" in result.stderr
    assert "K2first-line" not in result.stdout + result.stderr and "second-line" not in result.stdout + result.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_plain_http_to_a_remote_host_is_refused_before_any_request(tmp_path):
    result = run_cli(
        ["extract", "--base-url", "http://api.descope.com"],
        {"DESCOPE_PROJECT_ID": "P123", "DESCOPE_MANAGEMENT_KEY": KEY, "DUCKDB_PATH": str(tmp_path / "w.duckdb")},
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("descope-sync: error: --base-url uses plain http://")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_a_bad_max_seconds_in_the_environment_is_one_line_naming_it(tmp_path):
    result = run_cli(
        ["extract"],
        {
            "DESCOPE_PROJECT_ID": "P123",
            "DESCOPE_MANAGEMENT_KEY": KEY,
            "DESCOPE_MAX_SECONDS": "abc",
            "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        },
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "descope-sync: error: DESCOPE_MAX_SECONDS must be a number of seconds > 0, not 'abc'"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["extract", "--max-seconds", "0"],
        ["extract", "--max-seconds", "-5"],
        ["extract", "--max-seconds", "nan"],
        ["extract", "--max-seconds", "abc"],
        ["extract", "--streams", "users,groups"],
        ["extract", "--streams", "users,users"],
        ["run", "--max-delete-fraction", "2"],
        ["run", "--reconcile-days", "0"],
    ],
)
def test_bad_flags_are_usage_errors_exiting_2(tmp_path, argv):
    result = run_cli(
        argv, {"DESCOPE_PROJECT_ID": "P123", "DESCOPE_MANAGEMENT_KEY": KEY, "DUCKDB_PATH": str(tmp_path / "w.duckdb")}
    )
    assert result.returncode == 2
    assert f"argument {argv[1]}" in result.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_help_says_an_audit_filter_keeps_the_login_and_deletion_actions():
    result = run_cli(["extract", "--help"], {})
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "LoginSucceed, UserDeleted, UsersDeleted are always added" in text
    assert "5 incomplete" in text and "4 data_loss" in text and "3 partial" in text


# ---------------------------------------------------------------- status (a warehouse landed by the real pipeline)


def land(sim, db, hours_ago: float = 0, **kwargs):
    """One real extract into `db` against the simulator, its clock `hours_ago` in the past."""
    from datetime import timedelta

    from descope_sync.pipeline import run_extract
    from descope_sync.timeutil import utcnow
    from tests.conftest import settings_for

    return run_extract(settings_for(sim, db), now=lambda: utcnow() - timedelta(hours=hours_ago), **kwargs)


def status_of(db, *flags, env_extra=None):
    """`descope-sync --json status` as a monitor runs it: no Descope credentials, on Cloud Functions or not."""
    env = {"K_SERVICE": "a-monitor", **(env_extra or {})}
    result = run_cli(["--json", "status", "--duckdb-path", str(db), *flags], env, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    body = json.loads(result.stdout) if result.stdout.startswith("{") else None
    streams = {s["stream"]: s for s in body["streams"]} if body else {}
    return result, body, streams


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
    from descope_sync.simulator import ChaosConfig

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


def test_the_json_summary_of_a_real_extract_says_what_each_stream_did(in_process, simulator, monkeypatch, capsys):
    from datetime import datetime

    cli = in_process
    sim = simulator(users=30)
    monkeypatch.setenv("DESCOPE_PROJECT_ID", sim.project_id)
    monkeypatch.setenv("DESCOPE_MANAGEMENT_KEY", sim.management_key)
    monkeypatch.setenv("DESCOPE_BASE_URL", sim.base_url)
    db = os.environ["DUCKDB_PATH"]
    assert cli.main(["--json", "extract", "--audit-settle-seconds", "0"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["status"] == "success"
    streams = {s["stream"]: s for s in body["streams"]}
    assert list(streams) == list(STREAMS)
    for name, table in ((spec.name, spec.table.name) for spec in STREAM_SPECS):
        stream = streams[name]
        assert stream["status"] == "success", name
        assert stream["rows_loaded"] == query(db, f"select count(*) from descope_raw.{table}")[0][0] > 0, name
        assert stream["rows_quarantined"] == 0
    for name in ("audit_events", "users"):
        [(cursor_to,)] = query(db, "select max(cursor_to) from descope_raw._sync_runs where stream = ?", [name])
        assert datetime.fromisoformat(streams[name]["cursor_to"]) == cursor_to, name


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ([], []),
        (
            ["--full-refresh"],
            [
                "descope-sync: --full-refresh: every user is read again in a full sweep (landing stays append-only); "
                "once it reconciles, users Descope no longer has are removed from the marts at the next dbt build"
            ],
        ),
        (
            ["--confirm-deletions-sweep-id", "sw9"],
            [
                "descope-sync: confirming the deletions sweep sw9 held back: the users it would remove are removed "
                "from the marts at the next dbt build"
            ],
        ),
    ],
    ids=["none", "full-refresh", "confirm-sweep"],
)
def test_a_flag_that_can_remove_users_from_the_marts_says_so_first(in_process, monkeypatch, capsys, flags, said):
    cli = in_process
    monkeypatch.setattr(cli, "run_extract", fake_extract(summary_of("success"), []))
    assert cli.main(["extract", *flags]) == 0
    assert capsys.readouterr().err.splitlines() == said


def test_dbt_full_refresh_says_what_it_rebuilds(in_process, monkeypatch, capsys):
    cli = in_process
    monkeypatch.setattr(cli, "run_dbt", fake_dbt(True, []))
    assert cli.main(["transform", "--full-refresh"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "descope-sync: dbt --full-refresh: the incremental models are dropped and rebuilt from the landing tables "
        "(descope_raw is not touched)"
    ]


@pytest.mark.parametrize(("signum", "code"), [(2, 130), (15, 143)])
def test_an_interrupt_ends_the_live_progress_line_then_prints_one_line(in_process, monkeypatch, capsys, signum, code):
    import signal

    from descope_sync import interrupts
    from descope_sync.progress import Progress

    cli = in_process

    class Terminal:
        """stderr as a terminal shows it: the live line and the messages share it."""

        def write(self, text: str) -> None:
            sys.stderr.write(text)

        def flush(self) -> None:
            sys.stderr.flush()

        def isatty(self) -> bool:
            return True

    def run_extract(settings, *, streams, progress=None, **kwargs):
        progress.page("users", 10)
        os.kill(os.getpid(), signum)  # the CLI's handler raises where the run is
        raise AssertionError("the signal did not stop the run")

    monkeypatch.setattr(cli, "Progress", lambda: Progress(stream=Terminal()))
    monkeypatch.setattr(cli, "run_extract", run_extract)
    previous = signal.getsignal(signum)
    assert cli.main(["extract"]) == code
    assert signal.getsignal(signum) == previous  # the CLI's handlers are gone after it
    assert interrupts.received() is None  # and the signal with them: the next run in this process is not stopped
    name = signal.Signals(signum).name
    err = capsys.readouterr().err
    assert "users: 10 rows" in err  # the live line was drawn
    assert rendered(err)[-1] == (
        f"descope-sync: interrupted ({name}); committed progress is kept, the next run resumes from it"
    )


def rendered(text: str) -> list[str]:
    """The lines a terminal shows for `text`: a carriage return goes back to the line's start, ESC[K clears
    to its end, and what is written over a line replaces it."""
    lines = []
    for raw in text.rstrip("\n").split("\n"):
        cells: list[str] = []
        column = 0
        for part in re.split(r"(\r|\x1b\[K)", raw):
            if part == "\r":
                column = 0
            elif part == "\x1b[K":
                del cells[column:]
            else:
                for char in part:
                    cells[column : column + 1] = [char]
                    column += 1
        lines.append("".join(cells).rstrip())
    return lines

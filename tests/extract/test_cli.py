"""The CLI as a user runs it: one-line errors, exit codes, and no secret anywhere."""

from __future__ import annotations

import os
import subprocess
import sys

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

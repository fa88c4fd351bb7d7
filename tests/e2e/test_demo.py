"""`descope-sync demo` (what `make demo` runs) builds its own warehouse, reports what it built, and never
deletes a file it did not build."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from descope_sync.contract import RunStatus
from descope_sync.landing.base import SyncRun
from descope_sync.landing.duckdb import DuckDBLandingWriter
from tests.conftest import query


def run_demo(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_") and k != "DUCKDB_PATH"}
    return subprocess.run(
        [sys.executable, "-m", "descope_sync.cli", "demo", "--users", "60", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def real_warehouse(path: Path) -> str:
    """A warehouse with a real run in it; returns the file's digest."""
    with DuckDBLandingWriter(path) as writer:
        writer.ensure_tables()
        writer.append(
            "users",
            [{"user_id": "U1", "payload": {"userId": "U1"}, "_batch_id": "b", "_extracted_at": datetime(2026, 1, 1)}],
            SyncRun(run_id="r", stream="users", status=RunStatus.SUCCESS, started_at=datetime(2026, 1, 1)),
        )
    return digest(path)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_demo_builds_its_own_file_and_a_rerun_replaces_only_that(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"  # what `descope-sync run` fills by default
    before = real_warehouse(warehouse)
    first = run_demo(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    db = tmp_path / "demo.duckdb"
    for schema, table in (("descope_raw", "users"), ("descope_data_v2", "users"), ("descope_data_v2", "user_logins")):
        count = query(db, f"select count(*) from {schema}.{table}")[0][0]
        assert count > 0
        assert f"{schema}.{table}".ljust(len(schema) + 16) + str(count) in first.stdout.replace("\n", " ") or (
            str(count) in first.stdout
        )
    assert "dbt build: PASS" in first.stdout
    marked = query(db, "select created_at from descope_raw._demo")

    second = run_demo(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert query(db, "select count(distinct run_id) from descope_raw._sync_runs")[0][0] == 1  # afresh
    assert query(db, "select created_at from descope_raw._demo") != marked
    assert digest(warehouse) == before


def test_the_demo_refuses_a_warehouse_with_real_runs_and_deletes_nothing(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    before = real_warehouse(warehouse)
    result = run_demo(tmp_path, "--duckdb-path", str(warehouse), timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"descope-sync: error: {warehouse} is not a warehouse the demo built (it may hold real data); "
        "the demo deletes nothing: choose another path with --duckdb-path"
    )
    assert digest(warehouse) == before
    assert "Starting the Descope simulator" not in result.stdout


@pytest.mark.parametrize("content", [b"not a duckdb file at all\n", b""], ids=["garbage", "empty"])
def test_the_demo_refuses_a_file_it_cannot_read_and_deletes_nothing(tmp_path, content):
    path = tmp_path / "demo.duckdb"
    path.write_bytes(content)
    result = run_demo(tmp_path, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"descope-sync: error: {path.name} ")
    assert lines[0].endswith("the demo deletes nothing: choose another path with --duckdb-path")
    assert path.read_bytes() == content

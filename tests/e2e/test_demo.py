"""`descope-sync demo` (what `make demo` runs) builds its own warehouse, GA4 attribution from its fixture,
reports what it built, writes an HTML report that renders offline in a real browser, and never deletes a
file it did not build."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from descope_sync.contract import RunStatus
from descope_sync.landing.base import SyncRun
from descope_sync.landing.duckdb import DuckDBLandingWriter
from tests.conftest import query
from tests.e2e.browser import open_report


def run_demo(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DESCOPE_", "GA4_")) and k != "DUCKDB_PATH"}
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


@dataclass
class Demo:
    cwd: Path
    db: Path
    stdout: str
    warehouse: Path  # what `descope-sync run` fills by default, with a real run in it
    warehouse_digest: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    cwd = tmp_path_factory.mktemp("demo")
    warehouse = cwd / "warehouse.duckdb"
    before = real_warehouse(warehouse)
    result = run_demo(cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return Demo(cwd, cwd / "demo.duckdb", result.stdout, warehouse, before)


def test_the_demo_builds_every_table_in_its_own_file_and_reports_their_rows(demo: Demo):
    for schema, table in (("descope_raw", "users"), ("descope_data_v2", "users"), ("descope_data_v2", "user_logins")):
        count = query(demo.db, f"select count(*) from {schema}.{table}")[0][0]
        assert count > 0
        assert f"{schema}.{table}".ljust(len(schema) + 16) + str(count) in demo.stdout.replace("\n", " ") or (
            str(count) in demo.stdout
        )
    assert "dbt build: PASS" in demo.stdout
    assert digest(demo.warehouse) == demo.warehouse_digest


def test_the_demo_builds_attribution_from_its_ga4_fixture(demo: Demo):
    attributed, users, devices = query(
        demo.db,
        "select count(*) filter (where is_ga4_attributed), count(*), max(ga4_devices)"
        " from descope_data_v2.user_attribution",
    )[0]
    assert users == query(demo.db, "select count(*) from descope_data_v2.users")[0][0]
    assert 0 < attributed < users  # the fixture leaves one user unseen
    assert devices == 2  # one user came from two devices


def test_the_report_renders_every_chart_in_a_headless_browser_and_sends_no_request(demo: Demo, tmp_path: Path):
    match = re.search(r"Report \(open it in a browser\): (\S+)", demo.stdout)
    assert match, demo.stdout
    report = Path(match.group(1))
    assert report.is_file() and report.parent == demo.db.parent

    page = open_report(report, tmp_path / "chromium-profile")

    assert set(page.charts) == {
        "users-and-active-users",
        "signups",
        "login-success-rate",
        "login-countries",
        "auth-methods",
        "attribution",
    }
    for name, chart in page.charts.items():
        assert chart["width"] > 0 and chart["height"] > 0, (name, chart)
        assert chart["drawn"] > 0, f"{name}: no series element with a non-zero size"
    assert page.requests == [report.as_uri()], f"requests left the page: {page.requests}"
    assert page.errors == [], page.errors


def test_a_rerun_of_the_demo_replaces_only_its_own_file(demo: Demo):
    # Last in this file: it rebuilds the demo the tests above read.
    marked = query(demo.db, "select created_at from descope_raw._demo")
    second = run_demo(demo.cwd)
    assert second.returncode == 0, second.stdout + second.stderr
    assert query(demo.db, "select count(distinct run_id) from descope_raw._sync_runs")[0][0] == 1  # afresh
    assert query(demo.db, "select created_at from descope_raw._demo") != marked
    assert digest(demo.warehouse) == demo.warehouse_digest


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

"""`descope-sync demo` (what `make demo` runs) builds a warehouse, GA4 attribution from its fixture,
reports what it built, and writes an HTML report that renders offline in a real browser."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import query
from tests.e2e.browser import open_report


@dataclass
class Demo:
    db: Path
    stdout: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DESCOPE_", "GA4_"))}
    result = subprocess.run(
        [sys.executable, "-m", "descope_sync.cli", "demo", "--users", "60", "--duckdb-path", str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Demo(db, result.stdout)


def test_the_demo_builds_every_table_and_reports_their_rows(demo: Demo):
    for schema, table in (("descope_raw", "users"), ("descope_data_v2", "users"), ("descope_data_v2", "user_logins")):
        count = query(demo.db, f"select count(*) from {schema}.{table}")[0][0]
        assert count > 0
        assert (
            f"{schema}.{table}".ljust(len(schema) + 16) in demo.stdout.replace("\n", " ") or str(count) in demo.stdout
        )
    assert "dbt build: PASS" in demo.stdout


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

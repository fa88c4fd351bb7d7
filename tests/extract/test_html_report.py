"""The HTML report's file: written from whatever the marts hold, never over a file that is not a report."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from descope_sync.errors import ConfigError
from descope_sync.html_report import MARKER, write_report

DAY = date(2024, 1, 1)
MARTS: dict[str, list[dict[str, Any]]] = {
    "users_daily": [{"activity_date": DAY, "new_users": 2, "deleted_users": 0, "total_users": 2}],
    "active_users_daily": [
        {"activity_date": DAY, "daily_active_users": 1, "weekly_active_users": 1, "monthly_active_users": 1}
    ],
    "login_outcomes_daily": [
        {"activity_date": DAY, "succeeded_logins": 3, "failed_logins": 1, "login_success_rate": 0.75}
    ],
    "logins_by_country_daily": [
        {"activity_date": DAY, "country_code": "IT", "country_name": "Italy <&>", "logins": 3, "unique_users": 1}
    ],
    "logins_by_method_daily": [{"activity_date": DAY, "method": "otp", "logins": 3, "unique_users": 1}],
    "signup_cohort_retention": [
        {"cohort_week": DAY, "weeks_since_signup": 0, "cohort_users": 2, "returning_users": 1, "retention_rate": 0.5}
    ],
    "user_attribution": [],
}


def query(mart: str) -> list[dict[str, Any]]:
    return MARTS[mart]


def test_the_report_is_one_file_with_every_section_and_escaped_text(tmp_path: Path) -> None:
    path = write_report(query, tmp_path / "report.html", now=datetime(2024, 1, 2))
    html = path.read_text()
    assert html.startswith(MARKER)
    assert html.count('<svg class="chart"') == 5  # attribution is off: a note, not a chart
    assert "GA4 attribution is off" in html
    assert "Italy &lt;&amp;&gt;" in html and "Italy <&>" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_an_earlier_report_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_report(query, path, now=datetime(2024, 1, 2))
    write_report(query, path, now=datetime(2024, 1, 3))
    assert "2024-01-03" in path.read_text()


def test_a_file_that_is_not_a_report_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(b"DUCK data that must survive")
    with pytest.raises(ConfigError, match="not a descope-sync report"):
        write_report(query, path)
    assert path.read_bytes() == b"DUCK data that must survive"


def test_the_reports_dbt_exposure_names_exactly_the_marts_it_reads(tmp_path: Path) -> None:
    import re

    import yaml

    from descope_sync.transform import project_dir

    read: list[str] = []

    def recording(mart: str) -> list[dict[str, Any]]:
        read.append(mart)
        return MARTS[mart]

    write_report(recording, tmp_path / "report.html")
    exposures = yaml.safe_load((project_dir() / "dbt_project" / "analytics_exposures.yml").read_text())["exposures"]
    report = next(e for e in exposures if e["name"] == "descope_users_html_report")
    assert {re.fullmatch(r"ref\('(\w+)'\)", ref).group(1) for ref in report["depends_on"]} == set(read)


def test_report_without_a_warehouse_fails_and_writes_nothing(tmp_path: Path, capsys) -> None:
    from descope_sync.cli import main

    output = tmp_path / "report.html"
    code = main(
        ["report", "--target", "local", "--duckdb-path", str(tmp_path / "none.duckdb"), "--output", str(output)]
    )
    assert code == 1
    assert f"no warehouse at {tmp_path / 'none.duckdb'}" in capsys.readouterr().err
    assert not output.exists()

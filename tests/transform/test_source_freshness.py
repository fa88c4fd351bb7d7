"""`dbt source freshness` asks whether the extractor ran (`_sync_runs`), not whether data arrived.

It runs before every full `descope-sync transform` (and `run`): warn after 26 hours, error after
7 days, per stream; the marts are built either way, and an error makes the command exit 1.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from descope_sync import cli
from descope_sync.catalog import STREAMS

from .conftest import NOW, Landing, user

OTHERS = len(STREAMS) - 1  # the streams but users, each with a freshness entry of its own


def _ran(landing: Landing, stream: str, hours_ago: float, status: str = "success") -> None:
    at = NOW - timedelta(hours=hours_ago)
    landing.run(stream=stream, status=status, started_at=at - timedelta(seconds=5), finished_at=at, cursor_to=at)


def _transform(landing: Landing, capsys) -> tuple[int, str, str]:
    code = cli.main(["transform", "--duckdb-path", str(landing.path)])
    out, err = capsys.readouterr()
    assert "dbt build: PASS" in out, out  # the marts are built whatever freshness says
    return code, out, err


def _freshness_line(out: str) -> str:
    match = re.search(r"dbt source freshness: (\w+) \(([^)]*)\)", out)
    assert match, out
    return f"{match.group(1)} ({match.group(2)})"


def test_a_quiet_tenant_whose_extractor_runs_daily_is_fresh(landing: Landing, capsys):
    # Users last changed (and so last landed) ten days ago; every stream ran an hour ago.
    landing.users(user("U1"), user("U2"), extracted_at=NOW - timedelta(days=10))
    for stream in STREAMS:
        _ran(landing, stream, hours_ago=1)
    code, out, err = _transform(landing, capsys)
    assert code == 0, out + err
    assert _freshness_line(out) == f"PASS (source:pass {len(STREAMS)})"


@pytest.mark.parametrize(
    ("hours_ago", "expected_code", "expected"),
    [
        (25, 0, f"PASS (source:pass {len(STREAMS)})"),
        (27, 0, f"PASS (source:pass {OTHERS}, source:warn 1)"),
        (8 * 24, 1, None),
    ],
)
def test_a_stream_that_has_not_run_warns_after_26_hours_and_errors_after_7_days(
    landing: Landing, capsys, hours_ago, expected_code, expected
):
    landing.users(user("U1"), extracted_at=NOW - timedelta(hours=hours_ago))
    _ran(landing, "users", hours_ago=hours_ago)
    for stream in STREAMS:
        if stream != "users":
            _ran(landing, stream, hours_ago=1)
    code, out, err = _transform(landing, capsys)
    assert code == expected_code, out + err
    if expected:
        assert _freshness_line(out) == expected
        assert ("warn: source users: last loaded" in out) == ("warn" in expected)
    else:
        assert _freshness_line(out) == f"FAIL (source:error 1, source:pass {OTHERS})"
        assert "error: source users: last loaded" in out and "(error after 7 days)" in out
        errors = [line for line in err.splitlines() if line.startswith("descope-sync: error:")]
        assert errors == [
            "descope-sync: error: dbt source freshness: a stream has committed no run for longer than its error age "
            "(see above)"
        ]


def test_failed_runs_do_not_count_as_the_extractor_having_run(landing: Landing, capsys):
    _ran(landing, "users", hours_ago=9 * 24)
    _ran(landing, "users", hours_ago=1, status="failed")
    _ran(landing, "audit_events", hours_ago=1, status="partial")  # a budget-stopped run made progress
    for stream in STREAMS:
        if stream not in ("users", "audit_events"):
            _ran(landing, stream, hours_ago=1)
    code, out, _ = _transform(landing, capsys)
    assert code == 1
    assert _freshness_line(out) == f"FAIL (source:error 1, source:pass {OTHERS})"
    assert "error: source users" in out


def test_a_stream_that_never_ran_is_an_error(landing: Landing, capsys):
    _ran(landing, "users", hours_ago=1)
    _ran(landing, "audit_events", hours_ago=1)
    code, out, _ = _transform(landing, capsys)
    assert code == 1
    assert "error: source ip_locations: never loaded" in out


def test_a_selected_build_leaves_freshness_to_full_builds(landing: Landing, capsys):
    code = cli.main(["transform", "--duckdb-path", str(landing.path), "--select", "stg_descope__users"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "source freshness" not in out

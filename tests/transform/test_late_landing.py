"""Rows landed late: an extraction time older than what the last build read.

Landing is not always in order: BigQuery pages flushed while a build runs, overlapping runs in a
backfill. The incremental models must still take such rows in:
- every watermark keeps its lookback (var incremental_lookback_minutes): a row extracted before
  the newest one a model holds, but within the lookback, is read by the next build;
- login activity adds only the logins staged after the newest it has counted (`_staged_at`
  exclusive): a late login moves the staged events' `_extracted_at` bound back over logins already
  counted, and only the staging stamp keeps them from being counted twice;
- the rows a late landing repeats or supersedes keep their place: an event staged already is not
  staged (or counted) again, an older user version or an older geolocation lookup does not replace
  the newer one the models hold.
Each build ends where a full refresh of the same landing ends.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from descope_sync.geo import GeoDatabase
from descope_sync.transform import DbtOutcome, run_dbt
from tests.bigquery.marts import BUILD_STAMP_COLUMNS
from tests.transform.conftest import NOW, Landing, assert_marts_built, event, query, user
from tests.transform.test_full_refresh_equals_incremental import RELATIONS

FIRST = NOW - timedelta(hours=2)  # the first landing's extraction time
LATE = FIRST - timedelta(minutes=10)  # landed after the first build, extracted before what it read
EARLY = FIRST - timedelta(minutes=90)  # before the lookback of the second build
RELANDED = "login-old-1"


def build(path: Path, *, full_refresh: bool = False) -> DbtOutcome:
    # the project's own lookback (dbt_project.yml), which must reach back over LATE
    outcome = run_dbt("build", target="local", duckdb_path=path, full_refresh=full_refresh, unit_tests=False)
    assert outcome.success, outcome.failures
    assert_marts_built(outcome)
    return outcome


def lookups(landing: Landing, addresses: list[str], looked_up_at: datetime, batch: str) -> None:
    with GeoDatabase.open() as geo:
        landing.rows("ip_locations", geo.lookup_many(addresses, looked_up_at, batch))


@pytest.fixture(scope="module")
def late(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once in order, then again after a late landing of every table."""
    db = tmp_path_factory.mktemp("late") / "warehouse.duckdb"
    landing = Landing(db)
    # U-old and the quiet user's address were read before the lookback the second build re-reads:
    # a late, older version or lookup must be ranked against what the models hold.
    landing.users(user("U-old", givenName="current", modifiedTime=1_700_000_500), extracted_at=EARLY, batch="users-0")
    landing.users(
        user("U-modified", givenName="before", modifiedTime=1_700_000_100),
        user("U-quiet"),
        extracted_at=FIRST,
        batch="users-1",
    )
    on_time = [
        event("login-old-1", "LoginSucceed", "U-old", FIRST - timedelta(hours=3), "81.2.69.160"),
        event("login-old-2", "LoginSucceed", "U-old", FIRST - timedelta(hours=2), "81.2.69.160"),
        event("login-quiet", "LoginSucceed", "U-quiet", FIRST - timedelta(days=2), "89.160.20.112"),
    ]
    landing.events(*on_time, extracted_at=FIRST, batch="audit-1")
    lookups(landing, ["89.160.20.112"], EARLY, "geo-0")
    lookups(landing, ["81.2.69.160"], FIRST, "geo-1")
    landing.audit_run(cursor_to=FIRST)
    build(db)

    # The late landing: every row extracted before the newest one the first build read.
    landing.users(
        user("U-old", givenName="stale", modifiedTime=1_700_000_400),  # an older version
        user("U-modified", givenName="after", modifiedTime=1_700_000_200),
        user("U-new"),
        extracted_at=LATE,
        batch="users-late",
    )
    late_events = [
        event("login-late", "LoginSucceed", "U-modified", FIRST - timedelta(minutes=30), "81.2.69.160"),
        event("login-new", "LoginSucceed", "U-new", FIRST - timedelta(minutes=20), "216.160.83.56"),
        on_time[0],  # landed again (an overlapping run): staged and counted already (RELANDED)
    ]
    landing.events(*late_events, extracted_at=LATE, batch="audit-late")
    lookups(landing, ["216.160.83.56"], LATE, "geo-late")
    # a lookup with an older database of an address the first build located: it must not replace it
    with GeoDatabase.open() as geo:
        (stale,) = geo.lookup_many(["89.160.20.112"], LATE, "geo-late-stale")
    stale.update(city="Stale City", database_built_at=stale["database_built_at"] - timedelta(days=30))
    landing.rows("ip_locations", [stale])
    build(db)
    return db


def test_a_late_landing_is_read_by_the_next_build(late: Path) -> None:
    users = dict(query(late, "select user_id, given_name from descope_data_v2.users"))
    assert users == {"U-old": "current", "U-modified": "after", "U-quiet": None, "U-new": None}
    logins = query(late, "select event_id from descope_data_v2.user_logins order by 1")
    assert [r[0] for r in logins] == ["login-late", "login-new", "login-old-1", "login-old-2", "login-quiet"]
    staged = query(late, "select count(*), count(distinct event_id) from descope_staging.stg_descope__audit_events")
    assert staged == [(5, 5)]
    located = query(late, "select ip, city from descope_staging.stg_geoip__ip_locations order by 1")
    assert "Stale City" not in {city for _, city in located}
    assert [ip for ip, _ in located] == ["216.160.83.56", "81.2.69.160", "89.160.20.112"]


def test_late_logins_are_counted_once(late: Path) -> None:
    counts = dict(query(late, "select user_id, login_count from descope_data_v2.users"))
    assert counts == {"U-old": 2, "U-modified": 1, "U-quiet": 1, "U-new": 1}


def relation_rows(path: Path, relation: str) -> list[dict]:
    """Rows without build stamps; an event landed twice without the landing it was staged from (a
    full refresh stages it from its earliest landing, an incremental build keeps the one it staged
    first: staged events are never rewritten, or they would be counted again)."""
    con = duckdb.connect(str(path))  # same configuration as the dbt-duckdb connection this process may hold
    try:
        cursor = con.execute(f"select * from {relation}")
        names = [d[0] for d in cursor.description]
        found = []
        for values in cursor.fetchall():
            row = {k: v for k, v in zip(names, values, strict=True) if k not in BUILD_STAMP_COLUMNS}
            if row.get("event_id") == RELANDED:
                row = {k: v for k, v in row.items() if k not in ("_batch_id", "_extracted_at")}
            found.append(row)
        return sorted(found, key=lambda row: json.dumps(row, default=str, sort_keys=True))
    finally:
        con.close()


def test_after_a_late_landing_the_build_equals_a_full_refresh(late: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(late))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    refreshed = tmp_path / "refreshed.duckdb"
    shutil.copyfile(late, refreshed)
    build(refreshed, full_refresh=True)
    for relation in RELATIONS:
        expected = relation_rows(refreshed, relation)
        actual = relation_rows(late, relation)
        assert actual == expected, f"{relation}: incremental {actual} != full refresh {expected}"

"""An incremental build ends where a full refresh of the same landing ends: every model, row for row.

One simulated project is extracted twice (tests/bigquery/test_dbt_parity.py builds the landing
rows the way the streams do: a users full sweep, then modified, new and deleted users, new logins,
a late-indexed one, new addresses and a newer geolocation of old ones). `dbt build` runs after each
extraction (the second one incremental), then a copy of the warehouse is rebuilt with
`--full-refresh`: the staging tables, the intermediate tables and the marts must hold the same rows.
With a lookback of 0 the second build reads only what is new; with the default 60 minutes it reads
the first extraction again (the models must be idempotent). GA4's export (descope_sync.ga4_fixture)
is configured: the first build sees its days up to three days ago, the second the rest, today's
intraday table and a late event in a day it had read; the attribution must be the one the fixture made.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from descope_sync.transform import run_dbt
from tests.bigquery.marts import BUILD_STAMP_COLUMNS, NOW_DEPENDENT_COLUMNS
from tests.bigquery.parity_extraction import Extractor, change_world, make_world
from tests.bigquery.test_dbt_parity import land_duckdb
from tests.transform.conftest import assert_marts_built
from tests.transform.ga4 import GA4_RELATIONS, assert_attribution_matches, fixture_for, write_until

# Every model the incremental runs write (tables), then the marts.
RELATIONS = (
    "descope_staging.stg_descope__users",
    "descope_staging.stg_descope__audit_events",
    "descope_staging.stg_geoip__ip_locations",
    "descope_staging.int_users_deduplicated",
    "descope_staging.int_users_deleted",
    "descope_staging.int_users_login_activity",
    "descope_data_v2.users",
    "descope_data_v2.user_logins",
    "descope_data_v2.users_clean",
    # tables rebuilt on every run: equal by construction, compared all the same
    "descope_data_v2.active_users_daily",
    "descope_data_v2.users_daily",
    "descope_data_v2.login_outcomes_daily",
    "descope_data_v2.logins_by_country_daily",
    "descope_data_v2.logins_by_method_daily",
    "descope_data_v2.signup_cohort_retention",
    *GA4_RELATIONS,
)


def rows(path: Path, relation: str, ignore: tuple[str, ...] = ()) -> list[tuple]:
    con = duckdb.connect(str(path))  # same configuration as the dbt-duckdb connection this process may hold
    try:
        cursor = con.execute(f"select * from {relation}")
        names = [d[0] for d in cursor.description]
        keep = [i for i, name in enumerate(names) if name not in ignore]
        return sorted(
            (tuple(row[i] for i in keep) for row in cursor.fetchall()), key=lambda row: json.dumps(row, default=str)
        )
    finally:
        con.close()


def build(path: Path, *args: str, full_refresh: bool = False):
    outcome = run_dbt("build", target="local", duckdb_path=path, full_refresh=full_refresh, extra_args=list(args))
    assert outcome.success, outcome.failures
    assert_marts_built(outcome)
    return outcome


@pytest.mark.parametrize("lookback_minutes", [0, 60])
def test_an_incremental_build_equals_a_full_refresh_of_the_same_landing(tmp_path: Path, lookback_minutes: int) -> None:
    world, clock = make_world()
    extractor = Extractor(world, clock)
    incremental = tmp_path / "incremental.duckdb"
    dbt_vars = (
        "--vars",
        json.dumps({"incremental_lookback_minutes": lookback_minutes, "ga4_dataset": "ga4_demo"}),
    )
    first_day = datetime.now(UTC).date()

    land_duckdb(incremental, extractor.first_run())
    # GA4's export, its last three days (and today's intraday table) only before the second build
    ga4 = fixture_for(incremental)
    assert not any("intraday" in table for table in write_until(ga4, incremental, 3))
    build(incremental, *dbt_vars)
    before = rows(incremental, "descope_data_v2.users")
    change_world(world, clock, extractor.audit_cursor)
    land_duckdb(incremental, extractor.next_run())
    # and an event of a day already read arrives late, within var ga4_lookback_days (3) of the newest
    ga4.late_visit(ga4.today - timedelta(days=5), ga4.today - timedelta(days=4))
    assert any("intraday" in table for table in write_until(ga4, incremental, 0))
    build(incremental, *dbt_vars, "--exclude", "test_type:unit")
    assert rows(incremental, "descope_data_v2.users") != before, "the second extraction changed nothing"

    refreshed = tmp_path / "refreshed.duckdb"
    con = duckdb.connect(str(incremental))
    try:
        con.execute("checkpoint")  # everything in the file, nothing left in its write-ahead log
    finally:
        con.close()
    shutil.copyfile(incremental, refreshed)
    build(refreshed, *dbt_vars, "--exclude", "test_type:unit", full_refresh=True)

    ignore = BUILD_STAMP_COLUMNS + (NOW_DEPENDENT_COLUMNS if datetime.now(UTC).date() != first_day else ())
    for relation in RELATIONS:
        expected = rows(refreshed, relation, ignore)
        assert expected, f"{relation} is empty: the comparison would prove nothing"
        actual = rows(incremental, relation, ignore)
        only_full = [row for row in expected if row not in actual][:3]
        only_incremental = [row for row in actual if row not in expected][:3]
        assert actual == expected, (
            f"{relation}: incremental != full refresh ({len(actual)} vs {len(expected)} rows); "
            f"only in the full refresh: {only_full}; only in the incremental build: {only_incremental}"
        )
    assert_attribution_matches(incremental, ga4)

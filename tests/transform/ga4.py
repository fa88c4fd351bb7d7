"""The GA4 fixture (descope_sync.ga4_fixture) beside a warehouse, and what user_attribution must hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from descope_sync.ga4_fixture import DEFAULT_DATASET, Ga4Fixture

GA4_RELATIONS = (
    "descope_staging.int_ga4_device_first_touches",
    "descope_staging.int_ga4_user_devices",
    "descope_data_v2.user_attribution",
)


def landed_user_ids(path: Path) -> list[str]:
    con = duckdb.connect(str(path))
    try:
        return [row[0] for row in con.execute("select distinct user_id from descope_raw.users").fetchall()]
    finally:
        con.close()


def fixture_for(path: Path) -> Ga4Fixture:
    """A GA4 export of the users landed in `path`, its newest days written only later."""
    return Ga4Fixture(landed_user_ids(path), datetime.now(UTC).date())


def write_until(fixture: Ga4Fixture, path: Path, days_before_today: int) -> list[str]:
    return fixture.write(path, DEFAULT_DATASET, through=fixture.today - timedelta(days=days_before_today))


def assert_attribution_matches(path: Path, fixture: Ga4Fixture) -> None:
    """Every live user's first touch is the one the fixture made; the unseen user and the
    anonymous device attribute nothing."""
    con = duckdb.connect(str(path))
    try:
        live = {row[0] for row in con.execute("select user_id from descope_data_v2.users").fetchall()}
        rows = con.execute(
            "select user_id, is_ga4_attributed, first_touch_user_pseudo_id, first_touch_at, first_touch_source,"
            " first_touch_medium, first_touch_campaign, first_touch_landing_page, ga4_devices"
            " from descope_data_v2.user_attribution"
        ).fetchall()
        linked = {
            row[0] for row in con.execute("select user_pseudo_id from descope_staging.int_ga4_user_devices").fetchall()
        }
    finally:
        con.close()
    got = {row[0]: row[1:] for row in rows}
    assert set(got) == live, "user_attribution is not one row per live user"
    expected = {
        user_id: (
            True,
            t.user_pseudo_id,
            t.first_seen_at,
            t.source,
            t.medium,
            t.campaign,
            t.landing_page,
            len(fixture.devices[user_id]),
        )
        for user_id, t in fixture.expected.items()
        if user_id in live
    }
    unseen = {user_id: (False, None, None, None, None, None, None, 0) for user_id in live - set(fixture.expected)}
    assert fixture.unseen_user in unseen or fixture.unseen_user not in live
    assert fixture.two_device_user in expected, "the two-device user is not live: the fixture proves less"
    assert got == expected | unseen
    assert fixture.anonymous_device not in linked

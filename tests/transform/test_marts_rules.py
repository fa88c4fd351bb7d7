"""One landed world exercising the dbt rules that need no second build.

Protobuf-omitted booleans, absurd epoch times, logins without a user, which actions are logins,
deletion events (single and bulk), and client IPs parsed out of `remoteAddress`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from descope_sync.geo import GeoDatabase
from tests.transform.conftest import NOW, Landing, assert_marts_built, build, event, failing_rows, query, user

BOOLEANS = ("verified_email", "verified_phone", "test", "totp", "saml", "webauthn", "password", "editable", "scim")
BOOLEANS += ("push",)
DESCOPE_BOOLEANS = ("verifiedEmail", "verifiedPhone", "test", "TOTP", "SAML", "webauthn", "password", "editable")
DESCOPE_BOOLEANS += ("SCIM", "push")
EXTRACTED = NOW - timedelta(hours=2)


def at(minutes_ago: int) -> datetime:
    return EXTRACTED - timedelta(minutes=minutes_ago)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("marts") / "warehouse.duckdb"
    landing = Landing(db)
    landing.users(
        user("omitted"),
        user("nulls", **dict.fromkeys(DESCOPE_BOOLEANS)),
        user("trues", **dict.fromkeys(DESCOPE_BOOLEANS, True)),
        user("absurd-created", createdTime=99_999_999_999_999),
        user("negative-created", createdTime=-5, modifiedTime=99_999_999_999_999),
        user("fraction-created", createdTime=1_700_000_000.5),
        user("logger"),
        user("admin"),
        user("gone-single"),
        user("gone-bulk-in-data"),
        user("gone-bulk-in-external-ids"),
        user("gone-bulk-by-user-id"),
        user("named-in-single-data"),
        extracted_at=EXTRACTED,
    )
    events = [
        event("login-1", "LoginSucceed", "logger", at(50), "81.2.69.160:443"),
        event("login-2", "LoginSucceed", "logger", at(40), "10.0.0.1, 89.160.20.112"),
        # LoginFlowDone is in no Descope source: counted, it would be the latest login
        event("flow-done", "LoginFlowDone", "logger", at(30), "133.1.1.1"),
        event("no-user", "LoginSucceed", None, at(20), "81.2.69.160:443"),
        event("single", "UserDeleted", "gone-single", at(15), data={"other": "named-in-single-data"}),
        event(
            "bulk",
            "UsersDeleted",
            None,
            at(10),
            actorId="admin",
            data={"deleted": {"ids": ["gone-bulk-in-data", "admin", "not-a-landed-user"]}, "by": "admin"},
            externalIds=["gone-bulk-in-external-ids"],
        ),
        event("bulk-2", "UsersDeleted", "gone-bulk-by-user-id", at(9), actorId="admin"),
    ]
    landing.events(*events, extracted_at=EXTRACTED)
    addresses = sorted({ev["remoteAddress"] for ev in events if "remoteAddress" in ev})
    with GeoDatabase.open() as geo:
        landing.rows("ip_locations", geo.lookup_many(addresses, EXTRACTED, "geo-batch"))
    landing.audit_run(cursor_to=EXTRACTED)
    outcome = build(db)
    return db, outcome


def test_the_build_succeeds_with_absurd_times_and_userless_logins(world) -> None:
    _, outcome = world
    assert outcome.success, outcome.failures
    assert_marts_built(outcome)


def test_booleans_descope_left_out_or_sent_as_null_are_false_in_the_marts(world) -> None:
    db, _ = world
    rows = query(db, f"select user_id, {', '.join(BOOLEANS)} from descope_data_v2.users order by user_id")
    by_id = {r[0]: r[1:] for r in rows}
    assert by_id["omitted"] == (False,) * len(BOOLEANS)
    assert by_id["nulls"] == (False,) * len(BOOLEANS)
    assert by_id["trues"] == (True,) * len(BOOLEANS)
    assert all(value is not None for values in by_id.values() for value in values)
    clean = dict(query(db, "select user_id, [verified_email, verified_phone] from descope_data_v2.users_clean"))
    assert clean["omitted"] == clean["nulls"] == [False, False]


def test_epoch_times_out_of_range_are_null_and_counted_by_a_warning(world: tuple[Path, object]) -> None:
    db, outcome = world
    times = {r[0]: r[1:] for r in query(db, "select user_id, created_time, modified_time from descope_data_v2.users")}
    assert times["absurd-created"] == (None, None)
    assert times["negative-created"] == (None, None)
    assert times["fraction-created"] == (None, None)
    assert times["omitted"] == (datetime(2023, 11, 14, 22, 13, 20), None)
    assert any(w.startswith("test assert_user_times_convertible:") and "Got 3 result" in w for w in outcome.warnings)
    (row,) = failing_rows(db, "assert_user_times_convertible")
    assert row["n_users"] == 3
    for user_id in ("absurd-created", "negative-created", "fraction-created"):
        assert user_id in row["example_users"]
    assert "99999999999999" in row["example_users"]


def test_a_login_without_user_is_no_login_and_is_counted_by_a_warning(world) -> None:
    db, outcome = world
    assert query(db, "select count(*) from descope_data_v2.user_logins where event_id = 'no-user'") == [(0,)]
    assert query(db, "select count(*) from descope_data_v2.user_logins where user_id is null") == [(0,)]
    assert any(w.startswith("test assert_no_logins_without_user:") for w in outcome.warnings)
    (row,) = failing_rows(db, "assert_no_logins_without_user")
    assert (row["n_events"], row["example_event_ids"]) == (1, "no-user")


def test_only_login_succeed_counts_as_a_login(world) -> None:
    db, _ = world
    assert query(db, "select event_id from descope_data_v2.user_logins order by event_id") == [
        ("login-1",),
        ("login-2",),
    ]
    (row,) = query(
        db, "select login_count, first_login_time, last_login_time from descope_data_v2.users where user_id = 'logger'"
    )
    assert row == (2, at(50), at(40))


def test_deletion_events_remove_named_users_but_never_the_actor(world) -> None:
    db, _ = world
    live = {r[0] for r in query(db, "select user_id from descope_data_v2.users")}
    assert not live & {"gone-single", "gone-bulk-in-data", "gone-bulk-in-external-ids", "gone-bulk-by-user-id"}
    assert {"admin", "named-in-single-data", "logger"} <= live
    deleted = {r[0] for r in query(db, "select user_id from descope_staging.int_users_deleted")}
    assert deleted == {"gone-single", "gone-bulk-in-data", "gone-bulk-in-external-ids", "gone-bulk-by-user-id"}


def test_logins_carry_the_client_ip_and_the_raw_remote_address(world) -> None:
    db, _ = world
    logins = query(db, "select event_id, ip, remote_address, city from descope_data_v2.user_logins order by event_id")
    assert logins == [
        ("login-1", "81.2.69.160", "81.2.69.160:443", "Willesden"),
        ("login-2", "89.160.20.112", "10.0.0.1, 89.160.20.112", "Stockholm"),
    ]
    for mart in ("users", "users_clean"):
        assert query(
            db, f"select last_login_ip, last_login_city from descope_data_v2.{mart} where user_id = 'logger'"
        ) == [("89.160.20.112", "Stockholm")]

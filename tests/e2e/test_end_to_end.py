"""`descope-sync run` against a chaotic simulator, then the marts equal the simulator's truth.

The whole suite runs once per reading of Descope's API where its own sources disagree (the
simulator's `Dialect`): as documented; with every point read the other way, the harshest (audit `from`
exclusive, `oldestFirst`, `page` and `size` ignored, protobuf-style omitted empty values, user filters
in seconds, a `LoginFlowDone` beside every `LoginSucceed`); and as a server honouring only what the
official SDKs send to audit search (`from`, `to`, `actions`: the newest 1000 events and `total`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import datetime

import pytest

from descope_sim import ChaosConfig, Dialect, RateLimits
from descope_sync.geo import GeoDatabase
from descope_sync.timeutil import from_epoch_seconds, from_ms
from tests.conftest import query

CHAOS = ChaosConfig(seed=4, p_429=0.15, p_5xx=0.1, p_malformed=0.05, p_mutation=0.4, retry_after=1)


def descope_sync(args, sim, db, timeout=600, extra_env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    env.update(
        DESCOPE_PROJECT_ID=sim.project_id,
        DESCOPE_MANAGEMENT_KEY=sim.management_key,
        DESCOPE_BASE_URL=sim.base_url,
        DUCKDB_PATH=str(db),
        # The simulator indexes events at once; the settle margin for late indexing has its own tests.
        DESCOPE_AUDIT_SETTLE_SECONDS="0",
    )
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "descope_sync.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module", params=["documented", "alternate", "sdk_only"])
def two_chaotic_runs(request, tmp_path_factory):
    from descope_sim import Simulator, World

    db = tmp_path_factory.mktemp("e2e") / "warehouse.duckdb"
    sim = Simulator(
        World(seed=21, users=300, dialect=Dialect.parse(request.param)),
        chaos=CHAOS,
        max_page_size=60,
        rate_limits=RateLimits(user_search=(200, 60.0), audit_search=(10, 1.0)),
    ).start()
    try:
        outputs = []
        # Two runs while the source changes (chaos bursts), then one after it settled: changes made
        # during a run are read by the next one. The burst is capped (max_mutations), but how far it got
        # depends on how many requests the runs made; the last run still meets faults, never a change.
        for run in range(3):
            if run == 2:
                sim.chaos = dataclasses.replace(CHAOS, p_mutation=0.0)
            result = descope_sync(["run"], sim, db)
            outputs.append(result)
            assert result.returncode == 0, result.stdout + result.stderr
        truth = sim.world.truth()
        yield sim, db, truth, outputs
    finally:
        sim.stop()


def test_users_equals_the_simulators_live_users_exactly(two_chaotic_runs):
    sim, db, truth, _ = two_chaotic_runs
    assert sim.stats["mutations"] > 0, "the chaos run mutated nothing: the test would prove little"
    rows = query(
        db,
        "select user_id, email, display_name, status, created_time, modified_time, test, custom_attributes "
        "from descope_data_v2.users",
    )
    by_id = {r[0]: r for r in rows}
    assert len(by_id) == len(rows), "a user appears more than once"
    assert set(by_id) == set(truth["users"]), "users differs from the live users"
    for uid, user in truth["users"].items():
        _, email, name, status, created, modified, test, attrs = by_id[uid]
        assert email == user.get("email")
        assert name == user.get("name")
        assert status == user.get("status")
        assert created == from_epoch_seconds(user.get("createdTime"))
        assert modified == from_epoch_seconds(user.get("modifiedTime"))
        assert bool(test) == bool(user.get("test"))
        assert json.loads(attrs) == user.get("customAttributes", {}) or (
            attrs is None and not user.get("customAttributes")
        )


def test_login_columns_and_user_logins_equal_what_the_truth_implies(two_chaotic_runs):
    _, db, truth, _ = two_chaotic_runs
    rows = query(
        db,
        "select user_id, login_count, first_login_time, last_login_time, last_login_ip, last_login_city "
        "from descope_data_v2.users",
    )
    geo = GeoDatabase.open()
    try:
        for uid, count, first, last, ip, city in rows:
            expected = truth["expected_activity"][uid]
            assert count == expected["login_count"], uid
            if expected["login_count"] == 0:
                assert last is None and first is None and ip is None
                continue
            assert first == from_ms(expected["first_login_time_ms"])
            assert last == from_ms(expected["last_login_time_ms"])
            assert ip == expected["last_login_ip"]
            expected_city = geo.lookup_many([ip], datetime(2026, 1, 1), "check")[0]["city"] if ip else None
            assert city == expected_city
    finally:
        geo.close()
    n_logins = query(db, "select count(*), count(distinct event_id) from descope_data_v2.user_logins")[0]
    assert n_logins[0] == n_logins[1] == len(truth["logins"])


def test_users_clean_hides_test_users_and_cleans_emails(two_chaotic_runs):
    _, db, truth, _ = two_chaotic_runs
    rows = query(
        db,
        "select user_id, email, email_domain, user_activity_status, simple_status, days_since_last_login, "
        "cast(timezone('UTC', current_timestamp) as date) from descope_data_v2.users_clean",
    )
    live_non_test = {uid for uid, u in truth["users"].items() if not u.get("test")}
    assert {r[0] for r in rows} == live_non_test
    for uid, email, domain, status, simple, days, today in rows:
        raw = truth["users"][uid].get("email")
        assert email == (raw.strip().lower() if raw else None)
        assert domain == (email.split("@", 1)[1] if email and "@" in email else None)
        last_ms = truth["expected_activity"][uid]["last_login_time_ms"]
        expected_days = None if last_ms is None else (today - from_ms(last_ms).date()).days
        assert days == expected_days, uid
        assert (status, simple) == activity_buckets(expected_days), uid


def activity_buckets(days: int | None) -> tuple[str, str]:
    """The activity status and simple status for whole days since the last login (macros/activity_status.sql)."""
    if days is None:
        return "Never Logged In", "Never Logged In"
    buckets = ((0, "Active Today"), (3, "Active 1-3 days"), (7, "Active 4-7 days"), (14, "At Risk 7-14 days"))
    buckets += ((30, "Dormant 14-30 days"), (60, "Inactive 30-60 days"))
    status = next((name for limit, name in buckets if days <= limit), "Very Inactive 60+ days")
    simple = "Active" if days <= 7 else "Dormant" if days <= 30 else "Inactive"
    return status, simple


def test_runs_print_what_they_did_and_never_the_key(two_chaotic_runs):
    sim, db, _, outputs = two_chaotic_runs
    printed = {"users": 0, "audit_events": 0, "ip_locations": 0}
    for result in outputs:
        assert sim.management_key not in result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert "extract: success" in lines
        for stream in printed:
            line = next(line for line in lines if line.split()[:1] == [stream])
            _, status, rows, *_ = line.split()
            assert status == "success"
            printed[stream] += int(rows)
        assert any(line.strip().startswith("dbt build: PASS") for line in lines)
    for stream, rows in printed.items():  # what the runs said they landed is what landing holds
        assert rows == query(db, f"select count(*) from descope_raw.{stream}")[0][0], stream

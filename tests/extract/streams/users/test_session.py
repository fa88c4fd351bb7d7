"""One run's requests and landing (`streams/users/session.py`): retries, malformed answers, the page
size a server imposes or an oversize page forces, records that cannot land."""

from __future__ import annotations

import logging
import re

from descope_sim import ChaosConfig, World
from tests.conftest import latest_landed_users, logged, query, settings_for
from tests.extract.streams.users.conftest import assert_landing_matches_truth, extract_users


def test_a_server_that_silently_returns_fewer_rows_than_limit_loses_nothing(simulator, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="descope_sync")
    sim = simulator(users=500, max_page_size=37)
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db))
    assert summary.streams[0].details["effective_page_size"] == 37
    learned = "users: the server returned 37 of 1000 rows per page; using that page size"
    assert learned in logged(caplog)
    assert_landing_matches_truth(sim, db)


def test_429s_5xx_and_malformed_bodies_are_retried_without_losing_users(simulator, tmp_path):
    chaos = ChaosConfig(seed=5, p_429=0.25, p_5xx=0.2, p_malformed=0.1, p_mutation=0.3, retry_after=1)
    sim = simulator(users=300, chaos=chaos, max_page_size=50)
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db))
    assert summary.status == "success"
    assert_landing_matches_truth(sim, db)


def test_a_users_page_cut_short_with_a_string_total_never_passes_as_a_full_sweep(simulator, tmp_path):
    sim = simulator(users=2500, max_page_size=100)
    sim.answer_fault = {"user_search": "string_total"}
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db))
    assert str(summary.status) == "failed"
    assert (
        query(db, "select count(*) from descope_raw._sync_runs where mode = 'full' and status = 'success'")[0][0] == 0
    )


def test_a_user_without_user_id_is_quarantined_and_counted(simulator, tmp_path, caplog):
    sim = simulator(users=50)
    original = sim.world.search_users_raw

    def with_a_broken_record(**query):
        users, total = original(**query)
        if users:
            broken = [
                b'{"email": "orphan@example.com", "name": "No Id"}',
                b'{"userId": "", "email": "empty@example.com"}',
            ]
            return [*users, *broken, b'"a bare string"'], total + 3
        return users, total

    sim.world.search_users_raw = with_a_broken_record
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db))
    stream = summary.streams[0]
    assert stream.status == "success"
    assert stream.rows_quarantined >= 2
    warned = logged(caplog, "WARNING")
    assert "users: quarantined 3 record(s) without a userId" in warned  # two without an id, one not an object
    rows = query(
        db, "select stream, reason, payload->>'email' from descope_raw._quarantine where payload->>'email' is not null"
    )
    # an empty userId is no id either
    assert set(rows) == {
        ("users", "user record without a userId", "orphan@example.com"),
        ("users", "user record without a userId", "empty@example.com"),
    }
    not_objects = "select distinct stream, reason, payload->>'$' from descope_raw._quarantine"
    bare = query(db, not_objects + " where json_type(payload) = 'VARCHAR'")
    assert bare == [("users", "not an object", "a bare string")]
    assert query(db, "select count(*) from descope_raw.users where user_id is null or user_id = ''")[0][0] == 0
    for table in ("users", "_quarantine"):  # every row says when it was extracted
        assert query(db, f"select count(*) from descope_raw.{table} where _extracted_at is null")[0][0] == 0
    assert_landing_matches_truth(sim, db)


def test_unknown_new_fields_survive_in_the_raw_payload(simulator, tmp_path):

    sim = simulator(world=World(seed=11, users=150, extra_fields=True))
    db = tmp_path / "w.duckdb"
    extract_users(settings_for(sim, db))
    known = {"userId", "loginIds", "email", "name", "status", "createdTime", "modifiedTime"}
    with_new_fields = [u for u in sim.world.truth()["users"].values() if "lastSeenRegion" in u]
    assert with_new_fields
    landed = latest_landed_users(db)
    for user in with_new_fields:
        assert landed[user["userId"]] == user
        assert set(user) - known


def test_an_oversize_users_page_is_not_asked_for_again_at_that_size(simulator, tmp_path, caplog):
    """A window probe that overflowed with a full page must not undo the halving its oversize page caused."""
    caplog.set_level(logging.INFO, logger="descope_sync")
    limits: list[int] = []

    def record_page_sizes(phase, endpoint, request, world):
        if phase == "before" and endpoint == "user_search" and request.get("limit", 0) > 1:
            limits.append(request["limit"])

    sim = simulator(users=3000, on_request=record_page_sizes)
    db = tmp_path / "w.duckdb"
    stream = extract_users(settings_for(sim, db, max_page_bytes=64 * 1024)).streams[0]  # ~30 users' worth
    assert str(stream.status) == "success", stream.message
    final = stream.details["effective_page_size"]
    assert final <= 64
    oversize = {size: limits.count(size) for size in set(limits) if size > final}
    assert oversize and max(oversize.values()) <= 3, f"sizes already found too big were asked again: {oversize}"
    halvings = [m for m in logged(caplog) if "-byte page; asking for" in m]
    assert halvings and all(re.fullmatch(r"users: a \d+-byte page; asking for \d+ users per page", m) for m in halvings)
    assert halvings[-1].endswith(f"asking for {final} users per page")
    assert_landing_matches_truth(sim, db)


def test_an_oversize_page_halves_the_page_size_and_lands_everything(simulator, tmp_path):
    sim = simulator(users=3000)
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db, max_page_bytes=64 * 1024))  # ~30 users' worth
    stream = summary.streams[0]
    assert str(stream.status) == "success"
    assert stream.details["effective_page_size"] <= 64  # halved page after page, from 1000
    assert_landing_matches_truth(sim, db)

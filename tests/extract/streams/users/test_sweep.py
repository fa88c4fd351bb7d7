"""The sweep's reading (`streams/users/sweep.py`): users no createdTime window reaches, the
unfiltered pass, and a sweep resumed where it stopped."""

from __future__ import annotations

from descope_sim import World
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import from_ms
from tests.conftest import killed_while_appending, latest_landed_users, query, settings_for
from tests.extract.streams.users.conftest import (
    assert_landing_matches_truth,
    extract_users,
    landings,
    on_unfiltered_page,
    with_outside_users,
)


def test_users_whose_created_time_lies_outside_every_window_are_landed(simulator, tmp_path):
    sim = simulator(users=150)
    odd = {
        "U2zero": {"userId": "U2zero", "createdTime": 0, "email": "zero@example.com"},
        "U2future": {"userId": "U2future", "createdTime": 99999999999999, "email": "future@example.com"},
        "U2missing": {"userId": "U2missing", "email": "missing@example.com"},
        "U2negative": {"userId": "U2negative", "createdTime": -5, "email": "negative@example.com"},
    }
    for user in odd.values():
        sim.world.put_user(user)
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db, users_page_size=40))
    assert str(summary.status) == "success", summary.streams[0].message
    landed = latest_landed_users(db)
    for user_id, user in odd.items():
        assert landed.get(user_id) == user, user_id
    assert_landing_matches_truth(sim, db)
    # the pass over every user lands only those no window reaches: every other user is landed once
    regular = "select count(*), count(distinct user_id) from descope_raw.users where user_id not in (?, ?, ?, ?)"
    assert query(db, regular, list(odd)) == [(150, 150)]


def test_outside_users_on_consecutive_unfiltered_pages_are_all_landed(simulator, tmp_path):
    sim = simulator(users=100)
    outside = with_outside_users(sim, 70)  # pages 0 and 1 of 40 (they sort first by createdTime)
    db = tmp_path / "w.duckdb"
    stream = extract_users(settings_for(sim, db, users_page_size=40)).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details["reconciled"] is True
    assert_landing_matches_truth(sim, db)
    counts = landings(db)
    assert all(counts.get(uid) == 1 for uid in outside)


def test_users_created_at_the_first_and_last_second_the_windows_cover_are_landed_once(simulator, tmp_path):
    clock = [1_800_000_000.0]
    sim = simulator(world=World(seed=3, users=100, now=lambda: clock[0]))
    edges = {
        "U1first": {"userId": "U1first", "createdTime": 1, "email": "first@example.com"},
        # two seconds ahead of our clock: the last second the createdTime windows read
        "U1last": {"userId": "U1last", "createdTime": int(clock[0]) + 2, "email": "last@example.com"},
    }
    for user in edges.values():
        sim.world.put_user(user)
    with_outside_users(sim, 1)  # so the unfiltered pass runs
    db = tmp_path / "w.duckdb"
    now = lambda: from_ms(int(clock[0] * 1000))  # noqa: E731
    stream = run_extract(settings_for(sim, db), streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(stream.status) == "success", stream.message
    assert_landing_matches_truth(sim, db)
    counts = landings(db)
    assert counts["U1first"] == 1 and counts["U1last"] == 1  # read by the windows, not again by the pass
    assert set(counts.values()) == {1}


def test_a_sweep_killed_in_its_unfiltered_pass_resumes_at_the_page_it_reached(simulator, tmp_path, monkeypatch):

    sim = simulator(users=100)
    for i in range(5):  # without an id: quarantined from page 0, before the kill
        sim.world.put_user({"createdTime": 0, "email": f"orphan{i}@example.com"})
    outside = with_outside_users(sim, 90)  # pages 0, 1 and 2 of 40 with the five
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=40)
    with killed_while_appending(monkeypatch, on_unfiltered_page(3)):
        extract_users(settings)
    assert set(landings(db)) & set(outside)  # the first pages landed before the kill
    windowed = []
    sim.on_request = lambda phase, _endpoint, request, _world: windowed.extend(
        [request] if phase == "before" and "fromCreatedTime" in request else []
    )
    stream = extract_users(settings).streams[0]
    assert windowed == [], "the resumed sweep read its createdTime windows again"
    assert str(stream.status) == "success", stream.message
    assert stream.details["sweep_reason"] == "continuing the open sweep"
    assert_landing_matches_truth(sim, db)
    counts = landings(db)
    assert all(counts[uid] == 1 for uid in outside), "the resumed pass read its first pages again"
    assert set(counts.values()) == {1}, "a user landed twice"
    terminal = query(
        db,
        "select (details->>'quarantined')::int, details->'unproved', (details->>'unfiltered_page')::int "
        "from descope_raw._sync_runs where (details->>'phase') = 'done'",
    )
    assert terminal == [(5, "[]", 5)]  # the five quarantined before the kill still count; 195 users: pages 0-4

"""The users stream says `success` only for what it proved it read: hostile or ambiguous answers, dense
seconds, deletions nobody reported, clocks that disagree, changes during a run, budget stops."""

from __future__ import annotations

import time

import pytest

from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.simulator import Dialect, RateLimits, World
from descope_sync.timeutil import from_ms
from tests.conftest import latest_landed_users, query, settings_for


def extract(settings, streams=("users",), now=None):
    kwargs = {"now": now} if now is not None else {}
    return run_extract(settings, streams=list(streams), progress=SilentProgress(), **kwargs)


def assert_landing_matches_truth(sim, db):
    truth = sim.world.truth()["users"]
    landed = latest_landed_users(db)
    assert set(truth) <= set(landed), f"{len(set(truth) - set(landed))} live users never landed"
    stale = [uid for uid, user in truth.items() if landed[uid] != user]
    assert not stale, f"{len(stale)} users landed with an old version"


# ---------------------------------------------------------------------------- malformed answers
def test_a_users_page_cut_short_with_a_string_total_never_passes_as_a_full_sweep(simulator, tmp_path):
    sim = simulator(users=2500, max_page_size=100)
    sim.answer_fault = {"user_search": "string_total"}
    db = tmp_path / "w.duckdb"
    summary = extract(settings_for(sim, db))
    assert str(summary.status) == "failed"
    assert (
        query(db, "select count(*) from descope_raw._sync_runs where mode = 'full' and status = 'success'")[0][0] == 0
    )


# ---------------------------------------------------------------------------- dense seconds and reach
def test_a_dense_second_past_the_offset_cap_is_read_from_both_ends(simulator, tmp_path):
    sim = simulator(world=World(seed=2, users=2000, bulk_import=1500), max_page_size=100, max_offset=1000)
    db = tmp_path / "w.duckdb"
    summary = extract(settings_for(sim, db, users_page_size=100))
    assert str(summary.status) == "success", summary.streams[0].message
    assert summary.streams[0].details["dense_windows"] >= 1
    assert_landing_matches_truth(sim, db)


def test_a_dense_second_no_paging_can_reach_makes_the_sweep_incomplete_not_a_success(simulator, tmp_path):
    sim = simulator(world=World(seed=2, users=3000, bulk_import=2500), max_page_size=100, max_offset=1000)
    db = tmp_path / "w.duckdb"
    summary = extract(settings_for(sim, db, users_page_size=100))
    stream = summary.streams[0]
    assert str(stream.status) == "incomplete"
    assert "paging reached only" in stream.message
    terminal = query(
        db,
        "select status, (details->>'reconciled') from descope_raw._sync_runs "
        "where mode = 'full' and (details->>'phase') = 'done'",
    )
    assert terminal == [("incomplete", "false")]
    # Everything else still landed, and nothing claims the sweep was whole.
    assert query(db, "select count(distinct user_id) from descope_raw.users")[0][0] >= 3000 - 2500 + 2000


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
    summary = extract(settings_for(sim, db, users_page_size=40))
    assert str(summary.status) == "success", summary.streams[0].message
    landed = latest_landed_users(db)
    for user_id, user in odd.items():
        assert landed.get(user_id) == user, user_id
    assert_landing_matches_truth(sim, db)
    # the pass over every user lands only those no window reaches: every other user is landed once
    regular = "select count(*), count(distinct user_id) from descope_raw.users where user_id not in (?, ?, ?, ?)"
    assert query(db, regular, list(odd)) == [(150, 150)]


@pytest.mark.parametrize("dialect", ["user_time_unit=s", "user_from=inclusive,user_to=exclusive", "omit_empty=true"])
def test_full_and_incremental_reads_are_exact_under_each_reading_of_user_search(simulator, tmp_path, dialect):
    sim = simulator(world=World(seed=4, users=600, dialect=Dialect.parse(dialect)), max_page_size=50)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=50)
    first = extract(settings)
    assert str(first.status) == "success", first.streams[0].message
    assert first.streams[0].details["filter_unit"] == ("s" if "unit=s" in dialect else "ms")
    assert_landing_matches_truth(sim, db)
    changed = {sim.world.modify_user()["userId"] for _ in range(20)} | {sim.world.create_user()["userId"]}
    second = extract(settings)
    assert str(second.status) == "success"
    assert_landing_matches_truth(sim, db)
    landed_again = {
        r[0] for r in query(db, "select user_id from descope_raw.users where _batch_id = ?", [f"{second.run_id}:users"])
    }
    assert changed <= landed_again


# ---------------------------------------------------------------------------- deletions nobody reported
def test_a_silent_deletion_starts_a_reconciled_sweep(simulator, tmp_path):
    sim = simulator(users=300)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract(settings, ["audit_events", "users"])
    gone = [sim.world.delete_user(emit_event=False)["userId"] for _ in range(3)]
    summary = extract(settings, ["audit_events", "users"])
    users = next(s for s in summary.streams if s.stream == "users")
    assert str(users.status) == "success"
    assert users.details["mode"] == "full" and "Descope counts" in users.details["sweep_reason"]
    started = query(
        db,
        "select sweep_started_at from descope_raw._sync_runs where status = 'success' and mode = 'full' "
        "order by finished_at desc limit 1",
    )[0][0]
    last_seen = dict(query(db, "select user_id, max(_extracted_at) from descope_raw.users group by user_id"))
    assert all(last_seen[user_id] < started for user_id in gone)  # what dbt's deletion rule reads
    assert sum(1 for extracted in last_seen.values() if extracted >= started) == len(sim.world.truth()["users"])


def test_bulk_deleted_users_are_known_without_a_sweep(simulator, tmp_path):
    sim = simulator(users=300)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract(settings, ["audit_events", "users"])
    sim.world.delete_test_users()
    summary = extract(settings, ["audit_events", "users"])
    users = next(s for s in summary.streams if s.stream == "users")
    assert users.details.get("mode") == "incremental", users.details.get("sweep_reason")


def test_a_sweep_that_would_remove_too_many_users_is_held_until_confirmed(simulator, tmp_path):
    sim = simulator(users=200)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract(settings, ["audit_events", "users"])
    for _ in range(40):  # 20%, above the default 10% a sweep may remove
        sim.world.delete_user(emit_event=False)
    summary = extract(settings, ["audit_events", "users"])
    users = next(s for s in summary.streams if s.stream == "users")
    assert str(users.status) == "incomplete"
    assert users.details["held"] is True and users.details["would_remove"] == 40
    sweep_id = users.details["sweep_id"]
    assert f"DESCOPE_CONFIRM_DELETIONS_SWEEP_ID={sweep_id}" in users.message
    # Not confirmed: every run sweeps again and holds again.
    again = extract(settings, ["audit_events", "users"])
    assert str(next(s for s in again.streams if s.stream == "users").status) == "incomplete"
    # Confirmed: the confirmed sweep counts as accepted, the counts agree, nothing is held.
    confirmed = settings_for(sim, db, confirm_deletions_sweep_id=again.streams[-1].details["sweep_id"])
    final = extract(confirmed, ["audit_events", "users"])
    users = next(s for s in final.streams if s.stream == "users")
    assert str(users.status) == "success" and users.details.get("mode") == "incremental"


def test_a_last_reconciled_sweep_older_than_reconcile_days_starts_a_new_one(simulator, tmp_path):
    sim = simulator(users=100)
    db = tmp_path / "w.duckdb"
    extract(settings_for(sim, db))
    summary = extract(settings_for(sim, db, reconcile_days=1e-9))
    assert "days old" in summary.streams[0].details["sweep_reason"]
    summary = extract(settings_for(sim, db))
    assert summary.streams[0].details["mode"] == "incremental"


# ---------------------------------------------------------------------------- page size
def test_an_oversize_page_halves_the_page_size_and_lands_everything(simulator, tmp_path):
    sim = simulator(users=3000)
    db = tmp_path / "w.duckdb"
    summary = extract(settings_for(sim, db, max_page_bytes=64 * 1024))  # ~30 users' worth
    stream = summary.streams[0]
    assert str(stream.status) == "success"
    assert stream.details["effective_page_size"] <= 64  # halved page after page, from 1000
    assert_landing_matches_truth(sim, db)


# ---------------------------------------------------------------------------- changes during a run, clocks
def test_the_users_cursor_stays_before_the_last_tail_pass_began(simulator, tmp_path):
    """A change made after the last tail pass was answered is read by the next run, even with no overlap."""
    clock = [1_800_000_000.0]
    world = World(seed=3, users=120, now=lambda: clock[0])
    changed: list[str] = []

    def change_after_each_tail_pass(phase, endpoint, request, world):
        open_ended = "fromModifiedTime" in request and "toModifiedTime" not in request
        if phase == "after" and endpoint == "user_search" and open_ended and changed is not None:
            clock[0] += 1
            changed.append(world.modify_user()["userId"])
            clock[0] += 5  # the run ends well after the change

    sim = simulator(world=world, on_request=change_after_each_tail_pass)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_overlap_seconds=0)

    def now():
        return from_ms(int(clock[0] * 1000))

    assert str(extract(settings, now=now).status) == "success"
    sim.on_request = None
    clock[0] += 60
    assert str(extract(settings, now=now).status) == "success"
    truth = sim.world.truth()["users"]
    landed = latest_landed_users(db)
    assert changed and all(landed[uid] == truth[uid] for uid in changed), "a change after the last pass was lost"


def test_the_incremental_overlap_covers_a_server_clock_behind_ours(simulator, tmp_path):
    world = World(seed=4, users=150, now=lambda: time.time() - 90)  # Descope's clock 90 s behind ours
    sim = simulator(world=world)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)  # the default 10-minute overlap
    extract(settings)
    changed = {world.modify_user()["userId"] for _ in range(5)}
    extract(settings)
    truth, landed = sim.world.truth()["users"], latest_landed_users(db)
    assert all(landed[uid] == truth[uid] for uid in changed)


def test_a_deletion_between_two_offset_pages_of_a_dense_second_skips_nobody(simulator, tmp_path):
    world = World(seed=5, users=400, bulk_import=250)
    deleted: list[str] = []

    def delete_before_the_second_page(phase, endpoint, request, world):
        one_second = request.get("toCreatedTime", 0) - request.get("fromCreatedTime", 0) <= 2000
        if phase == "before" and endpoint == "user_search" and request.get("page") == 1 and one_second and not deleted:
            # The first user of the second (default order: createdTime, then userId) sat on page 0:
            # removing it shifts every later user one place towards page 0.
            second = request["fromCreatedTime"] // 1000 + 1
            first = min(uid for uid, u in world.truth()["users"].items() if u.get("createdTime") == second)
            deleted.append(world.delete_user(first)["userId"])

    sim = simulator(world=world, max_page_size=100, on_request=delete_before_the_second_page)
    db = tmp_path / "w.duckdb"
    summary = extract(settings_for(sim, db, users_page_size=100))
    assert str(summary.status) == "success" and deleted
    truth, landed = sim.world.truth()["users"], latest_landed_users(db)
    missing = set(truth) - set(landed)
    assert not missing, f"{len(missing)} users of the dense second were skipped when the offsets shifted"


# ---------------------------------------------------------------------------- the time budget
def test_a_full_sweep_stopped_by_its_budget_resumes_and_finishes_across_invocations(simulator, tmp_path):
    sim = simulator(
        world=World(seed=3, users=4000),  # about 45 searches at 10 a second: three invocations or more
        max_page_size=100,
        rate_limits=RateLimits(user_search=(10, 1.0), audit_search=(10, 1.0)),
    )
    db = tmp_path / "w.duckdb"
    # 2.5 s: a quarter of it is the commit reserve, and each invocation starts with a count and a probe.
    settings = settings_for(sim, db, max_seconds=2.5, users_page_size=100)
    statuses = []
    for _ in range(20):
        summary = extract(settings, ["users"])
        statuses.append(str(summary.status))
        if summary.status == "success":
            break
    assert statuses[-1] == "success" and len(statuses) >= 3, statuses
    assert set(statuses[:-1]) == {"partial"}, statuses

    positions = query(
        db,
        "select run_id, max(cast((details->>'position') as bigint)) from descope_raw._sync_runs "
        "where stream = 'users' and status = 'partial' and (details->>'phase') = 'windows' "
        "group by run_id order by min(finished_at)",
    )
    reached = [p for _, p in positions]
    assert len(reached) >= 2 and reached == sorted(reached) and len(set(reached)) == len(reached), reached
    sweeps = query(
        db,
        "select count(distinct sweep_id), min(sweep_started_at) from descope_raw._sync_runs where sweep_id is not null",
    )
    first_start = query(db, "select min(started_at) from descope_raw._sync_runs where stream = 'users'")[0][0]
    assert sweeps == [(1, first_start)]  # one sweep; deletions will date from its first start
    truth = sim.world.truth()["users"]
    landed = latest_landed_users(db)
    assert set(landed) == set(truth) and all(landed[u] == truth[u] for u in truth)
    rows = query(db, "select count(*) from descope_raw.users")[0][0]
    assert rows < 1.3 * len(truth), "each invocation re-read what an earlier one had landed"

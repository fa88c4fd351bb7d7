"""Fail closed: a stream says `success` only for what it proved it read, under every reading of the API.

Each test plays a hostile or ambiguous Descope through the simulator over HTTP and checks what
landed and what the cursors claim.
"""

from __future__ import annotations

import pytest

from descope_sim import Dialect, World
from descope_sync.contract import RunStatus
from descope_sync.descope import AUDIT_SEARCH_PATH, USER_SEARCH_PATH
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import from_ms, to_ms
from tests.conftest import cursor, latest_landed_users, query, settings_for


def extract(settings, streams=("users",)):
    return run_extract(settings, streams=list(streams), progress=SilentProgress())


def statuses(summary) -> dict[str, str]:
    return {s.stream: str(s.status) for s in summary.streams}


def assert_landing_matches_truth(sim, db):
    truth = sim.world.truth()["users"]
    landed = latest_landed_users(db)
    assert set(truth) <= set(landed), f"{len(set(truth) - set(landed))} live users never landed"
    stale = [uid for uid, user in truth.items() if landed[uid] != user]
    assert not stale, f"{len(stale)} users landed with an old version"


# ---------------------------------------------------------------------------- empty and malformed answers
@pytest.mark.parametrize("dialect", ["documented", "alternate"])
def test_every_answer_empty_on_a_built_warehouse_claims_nothing(simulator, tmp_path, dialect):
    sim = simulator(world=World(seed=9, users=300, dialect=Dialect.parse(dialect)))
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    assert extract(settings, ["audit_events", "users"]).status == "success"
    users_cursor, audit_cursor = cursor(db, "users"), cursor(db, "audit_events")
    sweeps_before = query(db, "select count(*) from descope_raw._sync_runs where status = 'success' and mode = 'full'")
    for _ in range(3):
        sim.world.login()

    sim.answer_fault = {"user_search": "empty_object", "audit_search": "empty_object"}
    for refresh in (False, True):
        summary = extract(settings_for(sim, db, full_refresh=refresh), ["audit_events", "users"])
        assert summary.status in ("failed", "incomplete"), statuses(summary)
        assert statuses(summary)["users"] in ("failed", "incomplete")
        assert statuses(summary)["audit_events"] == "failed"  # the anchor event is missing from `{}`
    assert cursor(db, "users") == users_cursor and cursor(db, "audit_events") == audit_cursor
    after = query(db, "select count(*) from descope_raw._sync_runs where status = 'success' and mode = 'full'")
    assert after == sweeps_before, "a sweep that read nothing was accepted: dbt would delete every user"

    sim.answer_fault = {"user_search": None, "audit_search": None}
    assert extract(settings, ["audit_events", "users"]).status == "success"
    landed = {r[0] for r in query(db, "select event_id from descope_raw.audit_events")}
    from descope_sync.contract import event_id

    assert {event_id(e) for e in sim.world.truth()["events"]} <= landed


@pytest.mark.parametrize("fault", ["string_total", "missing_total", "bad_list", "missing_list"])
def test_answers_of_the_wrong_shape_move_no_cursor(simulator, tmp_path, fault):
    sim = simulator(users=200, max_page_size=100)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=100)
    assert extract(settings, ["audit_events", "users"]).status == "success"
    before = query(db, "select count(*) from descope_raw._sync_runs where status in ('success', 'incomplete')")
    sim.world.modify_user()
    sim.world.login()
    sim.answer_fault = {"user_search": fault, "audit_search": fault}
    summary = extract(settings_for(sim, db, users_page_size=100, full_refresh=True), ["audit_events", "users"])
    assert set(statuses(summary).values()) == {"failed"}, statuses(summary)
    after = query(db, "select count(*) from descope_raw._sync_runs where status in ('success', 'incomplete')")
    assert after == before


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


# ---------------------------------------------------------------------------- audit readings
@pytest.mark.parametrize(
    "dialect",
    [
        "documented",
        "audit_from=exclusive",
        "audit_oldest_first=ignored",
        "audit_page=ignored",
        "audit_oldest_first=ignored,audit_page=ignored",
        "sdk_only",
        "alternate",
    ],
)
def test_audit_paging_lands_every_event_under_each_reading(simulator, tmp_path, dialect):
    world = World(seed=6, users=150, dialect=Dialect.parse(dialect))
    sim = simulator(world=world)
    occurred = to_ms(from_ms(int(world.now() * 1000) - 3_600_000))
    for _ in range(130):  # more events in one millisecond than a page holds
        world.login(occurred_ms=occurred)
    db = tmp_path / "w.duckdb"
    summary = extract(settings_for(sim, db, audit_page_size=50), ["audit_events"])
    assert str(summary.status) == "success", summary.streams[0].message
    from descope_sync.contract import event_id

    landed = [r[0] for r in query(db, "select event_id from descope_raw.audit_events")]
    assert set(landed) == {event_id(e) for e in sim.world.truth()["events"]}
    if world.dialect.audit_size == "honoured":  # else one answer of 1000 holds most of it
        assert summary.streams[0].pages >= 5
    if world.dialect.audit_oldest_first == "ignored" and world.dialect.audit_size == "honoured":
        assert summary.streams[0].details.get("newest_first") is True


def test_events_indexed_late_are_read_once_the_settle_margin_has_passed(tmp_path):
    from descope_sim import Simulator

    clock = [1_800_000_000.0]
    world = World(seed=8, users=40, now=lambda: clock[0])
    with Simulator(world) as sim:
        db = tmp_path / "w.duckdb"

        def now():
            return from_ms(int(clock[0] * 1000))

        settings = settings_for(sim, db, audit_settle_seconds=120, audit_overlap_seconds=0)
        assert run_extract(settings, streams=["audit_events"], progress=SilentProgress(), now=now).status == "success"
        late = world.login(occurred_ms=int((clock[0] - 30) * 1000))  # occurred 30 s ago, indexed now
        late_id = late["event"].get("ID")
        clock[0] += 60  # a minute later: still inside the settle margin, the cursor has not passed it
        run_extract(settings, streams=["audit_events"], progress=SilentProgress(), now=now)
        clock[0] += 600
        run_extract(settings, streams=["audit_events"], progress=SilentProgress(), now=now)
        landed = {r[0] for r in query(db, "select event_id from descope_raw.audit_events")}
        assert late_id in landed
        assert cursor(db, "audit_events") <= now() - __import__("datetime").timedelta(seconds=120)


def test_an_audit_answer_missing_an_event_landed_before_moves_no_cursor(simulator, tmp_path):
    sim = simulator(users=100)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract(settings, ["audit_events"])
    before = cursor(db, "audit_events")
    original = sim.world.search_audit

    def forgetful(**q):  # answers as if the events landed last time never happened
        return [], 0

    sim.world.search_audit = forgetful
    summary = extract(settings, ["audit_events"])
    assert str(summary.status) == "failed"
    assert (
        "lacks an event landed by an earlier run (Descope answered less than it holds));" in summary.streams[0].message
    )
    assert cursor(db, "audit_events") == before
    sim.world.search_audit = original


@pytest.mark.parametrize(
    ("stream", "path", "search"),
    [("audit_events", AUDIT_SEARCH_PATH, "search_audit"), ("users", USER_SEARCH_PATH, "search_users_raw")],
    ids=["audit_events", "users"],
)
def test_a_page_0_empty_under_a_positive_total_fails_with_an_error_naming_the_total(
    simulator, tmp_path, stream, path, search
):
    sim = simulator(users=20)
    db = tmp_path / "w.duckdb"
    setattr(sim.world, search, lambda **q: ([], 7))  # counts seven but serves none
    summary = extract(settings_for(sim, db), [stream])
    result = summary.streams[0]
    assert str(result.status) == "failed"
    assert result.message == (
        f"Descope request {path} failed 6 times, last: malformed response body (page 0 is empty but "
        "'total' is 7); nothing past the last committed cursor was recorded, so the next run resumes there"
    )
    errors = query(db, "select status, error from descope_raw._sync_runs where stream = ?", [stream])
    assert errors == [("failed", result.message)]
    assert cursor(db, stream) is None


def test_a_server_that_answers_the_audit_search_empty_without_an_anchor_claims_nothing(simulator, tmp_path):
    sim = simulator(world=World(seed=1, users=50, dialect=Dialect.parse("omit_empty=true")))
    sim.answer_fault = {"audit_search": "empty_object"}
    db = tmp_path / "w.duckdb"
    summary = extract(settings_for(sim, db), ["audit_events"])
    assert str(summary.status) == "success" and summary.streams[0].details["unproved_empty_answer"] is True
    assert cursor(db, "audit_events") is None  # the next run asks from the retention edge again
    sim.answer_fault = {"audit_search": None}
    assert extract(settings_for(sim, db), ["audit_events"]).streams[0].rows_loaded > 0


def test_run_statuses_are_the_contracts(simulator, tmp_path):
    sim = simulator(users=30)
    db = tmp_path / "w.duckdb"
    extract(settings_for(sim, db), ["audit_events", "users", "ip_locations"])
    seen = {r[0] for r in query(db, "select distinct status from descope_raw._sync_runs")}
    assert seen <= {str(s) for s in RunStatus}


def test_an_oversize_page_halves_the_page_size_and_lands_everything(simulator, tmp_path):
    sim = simulator(users=3000)
    db = tmp_path / "w.duckdb"
    summary = extract(settings_for(sim, db, max_page_bytes=64 * 1024))  # ~30 users' worth
    stream = summary.streams[0]
    assert str(stream.status) == "success"
    assert stream.details["effective_page_size"] <= 64  # halved page after page, from 1000
    assert_landing_matches_truth(sim, db)

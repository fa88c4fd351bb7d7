"""The modified pass and its tail passes (`streams/users/incremental.py`): what an incremental run
lands, and the cursor it may claim."""

from __future__ import annotations

import time

import pytest

from descope_sim import World
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.streams.users.incremental import TAIL_MARGIN_S
from descope_sync.timeutil import from_ms
from tests.conftest import cursor, latest_landed_users, query, settings_for
from tests.extract.streams.users.conftest import (
    assert_landing_matches_truth,
    extract_users,
    incremental_run_after_a_sweep,
    is_tail_request,
    swept_fixed_clock_world,
)


def test_incremental_run_picks_up_exactly_the_modified_and_created_users(simulator, tmp_path):
    sim = simulator(users=300)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract_users(settings)
    modified = {sim.world.modify_user()["userId"] for _ in range(5)}
    created = {sim.world.create_user()["userId"] for _ in range(3)}
    second = extract_users(settings)
    assert second.streams[0].details["mode"] == "incremental"
    batches = query(db, "select distinct _batch_id from descope_raw.users order by min(_extracted_at) over ()")
    assert len(batches) == 2
    last_batch = query(
        db,
        "select user_id, count(*) from descope_raw.users where _batch_id = ? group by user_id",
        [f"{second.run_id}:users"],
    )
    assert dict(last_batch) == dict.fromkeys(modified | created, 1)  # the tail pass lands nobody again
    assert_landing_matches_truth(sim, db)


def test_a_crash_between_landing_and_cursor_commit_loses_nothing_on_the_next_run(simulator, tmp_path, monkeypatch):
    from descope_sync.landing.duckdb import DuckDBLandingWriter

    sim = simulator(users=200)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract_users(settings)
    cursor_before = cursor(db, "users")
    changed = {sim.world.modify_user()["userId"] for _ in range(4)}

    original = DuckDBLandingWriter.record_run

    def crash_on_success(self, run):
        if run.status == "success":
            raise SystemExit("killed between the load and the cursor commit")
        return original(self, run)

    monkeypatch.setattr(DuckDBLandingWriter, "record_run", crash_on_success)
    with pytest.raises(SystemExit):
        extract_users(settings)
    monkeypatch.setattr(DuckDBLandingWriter, "record_run", original)
    # The pages' own checkpoints may have moved the watermark, but never past what they landed.
    cursor_after_crash = cursor(db, "users")
    assert cursor_after_crash >= cursor_before
    landed = latest_landed_users(db)
    truth = sim.world.truth()["users"]
    assert all(landed[uid] == truth[uid] for uid in changed)
    assert query(db, "select count(*) from descope_raw._sync_runs where stream='users' and status='success'")[0][0] == 1

    changed |= {sim.world.modify_user()["userId"] for _ in range(2)}
    assert extract_users(settings).status == "success"
    landed = latest_landed_users(db)
    truth = sim.world.truth()["users"]
    assert all(landed[uid] == truth[uid] for uid in changed)
    assert_landing_matches_truth(sim, db)


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

    assert str(extract_users(settings, now).status) == "success"
    sim.on_request = None
    clock[0] += 60
    assert str(extract_users(settings, now).status) == "success"
    truth = sim.world.truth()["users"]
    landed = latest_landed_users(db)
    assert changed and all(landed[uid] == truth[uid] for uid in changed), "a change after the last pass was lost"


def test_the_incremental_overlap_covers_a_server_clock_behind_ours(simulator, tmp_path):
    world = World(seed=4, users=150, now=lambda: time.time() - 90)  # Descope's clock 90 s behind ours
    sim = simulator(world=world)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)  # the default 10-minute overlap
    extract_users(settings)
    changed = {world.modify_user()["userId"] for _ in range(5)}
    extract_users(settings)
    truth, landed = sim.world.truth()["users"], latest_landed_users(db)
    assert all(landed[uid] == truth[uid] for uid in changed)


def test_a_user_changed_during_the_first_tail_pass_brings_a_second_one(simulator, tmp_path):
    sim = simulator(users=120)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    assert extract_users(settings).status == "success"
    sim.world.modify_user()  # a change since the run began: a quiet first request would need no tail pass
    changed: list[dict] = []

    def change_before_the_first_tail_pass(phase, endpoint, request, world):
        open_ended = "fromModifiedTime" in request and "toModifiedTime" not in request
        if phase == "before" and endpoint == "user_search" and open_ended and not changed:
            changed.append(world.modify_user())

    sim.on_request = change_before_the_first_tail_pass
    stream = extract_users(settings).streams[0]
    sim.on_request = None
    assert str(stream.status) == "success" and stream.details["mode"] == "incremental"
    assert changed, "no tail pass ran"
    assert stream.details["tail_passes"] == 2  # the change, then a pass that brought nothing new
    uid = changed[0]["userId"]
    assert latest_landed_users(db)[uid] == sim.world.truth()["users"][uid]


def test_a_source_that_changes_during_every_tail_pass_stops_after_ten_with_the_cursor_before_the_last(
    simulator, tmp_path
):
    sim, clock, run = incremental_run_after_a_sweep(simulator, tmp_path)
    changed: list[str] = []

    def a_change_a_second_during_every_tail_pass(phase, endpoint, request, world):
        if phase == "before" and is_tail_request(endpoint, request):
            clock[0] += 1
            changed.append(world.modify_user()["userId"])

    sim.on_request = a_change_a_second_during_every_tail_pass
    stream = run()
    sim.on_request = None
    assert len(changed) == 10 and stream.details["tail_passes"] == 10
    # the tenth pass began at 1_800_000_109 (one second per pass before it): what changed before then is landed
    assert stream.cursor_to == from_ms(1_800_000_108_000)
    assert_landing_matches_truth(sim, tmp_path / "w.duckdb")


@pytest.mark.parametrize(("ahead", "page_size", "tail_passes"), [(2, 4, 1), (3, 4, 2), (3, 1000, 1)])
def test_the_windows_of_an_incremental_run_reach_two_seconds_past_now_and_the_tail_reads_what_lies_beyond(
    simulator, tmp_path, ahead, page_size, tail_passes
):
    """A change stamped `ahead` seconds in the future (a Descope clock ahead of ours): when the first
    request (up to year 9999) does not fit, the windows read it up to two seconds ahead; past that the
    tail pass lands it as new, so a second pass must prove it. When the first request fits it is read
    there, and one tail pass proves it."""
    sim, clock, run = incremental_run_after_a_sweep(simulator, tmp_path, changed_since=5, users_page_size=page_size)
    clock[0] += ahead
    uid = sim.world.modify_user()["userId"]
    clock[0] -= ahead
    stream = run()
    assert stream.details["tail_passes"] == tail_passes
    assert latest_landed_users(tmp_path / "w.duckdb")[uid] == sim.world.truth()["users"][uid]


def test_a_change_stamped_by_a_descope_clock_behind_ours_by_the_tail_margin_is_landed_by_the_tail(simulator, tmp_path):
    sim, clock, run = incremental_run_after_a_sweep(simulator, tmp_path)
    changed: list[str] = []

    def a_lagging_change_before_the_first_tail_pass(phase, endpoint, request, world):
        if phase == "before" and is_tail_request(endpoint, request) and not changed:
            clock[0] -= TAIL_MARGIN_S  # the windows have passed that second already
            changed.append(world.modify_user()["userId"])
            clock[0] += TAIL_MARGIN_S

    sim.on_request = a_lagging_change_before_the_first_tail_pass
    stream = run()
    sim.on_request = None
    assert changed, "no tail pass ran"
    assert stream.details["tail_passes"] == 1  # older than the tail margin: landed, but not new to the pass
    assert stream.cursor_to == from_ms(1_800_000_099_000)
    assert_landing_matches_truth(sim, tmp_path / "w.duckdb")


def test_an_incremental_run_that_found_no_change_keeps_its_progress_when_killed_in_the_tail(
    simulator, tmp_path, monkeypatch
):
    """A quiet stretch is progress too: the first request commits its cursor, so a run killed in the
    tail pass after it does not send the next run back to the old cursor."""
    from descope_sync.descope import DescopeClient

    sim, clock, now, settings, db = swept_fixed_clock_world(simulator, tmp_path)
    swept_to = cursor(db, "users")
    clock[0] += 3600
    second_of_the_run = int(clock[0])
    sim.world.modify_user()  # a change since the run began, so that a tail pass follows the first request
    search = DescopeClient.search_users

    def killed_at_the_tail(self, body, **kwargs):
        if "fromModifiedTime" in body and "toModifiedTime" not in body:
            raise SystemExit("killed in the tail pass")
        return search(self, body, **kwargs)

    monkeypatch.setattr(DescopeClient, "search_users", killed_at_the_tail)
    with pytest.raises(SystemExit):
        run_extract(settings, streams=["users"], progress=SilentProgress(), now=now)
    monkeypatch.setattr(DescopeClient, "search_users", search)
    kept = cursor(db, "users")
    assert swept_to < kept == from_ms((second_of_the_run - 1) * 1000)  # up to the second before now, no further
    stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(stream.status) == "success" and stream.cursor_from == kept
    assert_landing_matches_truth(sim, db)


def test_a_tail_pass_too_big_for_one_page_lands_nobody_twice(simulator, tmp_path):
    """Eight users changed over the four seconds before the run, pages of four: the tail pass cannot read
    them in one answer, reads them in windows, and lands none of those the windows before it landed."""
    sim, clock, now, settings, db = swept_fixed_clock_world(simulator, tmp_path, users_page_size=4)
    swept_to = cursor(db, "users")
    base = int(clock[0]) + 100
    users = sorted(sim.world.truth()["users"])
    modified = set()
    for ago in (3, 2, 1, 0):
        clock[0] = base - ago
        modified |= {sim.world.modify_user(uid)["userId"] for uid in users[2 * ago : 2 * ago + 2]}
    summary = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now)
    stream = summary.streams[0]
    assert str(stream.status) == "success" and stream.details["mode"] == "incremental", stream.message
    assert stream.details["tail_passes"] == 1
    landed = query(
        db,
        "select user_id, count(*) from descope_raw.users where _batch_id = ? group by user_id",
        [f"{summary.run_id}:users"],
    )
    assert dict(landed) == dict.fromkeys(modified, 1)
    starts = query(db, "select distinct cursor_from from descope_raw._sync_runs where run_id = ?", [summary.run_id])
    assert starts == [(swept_to,)]  # every row the run committed names the cursor it started from
    assert_landing_matches_truth(sim, db)

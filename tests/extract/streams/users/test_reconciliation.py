"""A sweep's reconciliation (`streams/users/sweep.py`): every record without a userId counts once,
whichever part of the sweep reads it (its createdTime window, the open window past the windows, or
the unfiltered pass), also across a kill and a resume and when a window returns its neighbouring
seconds; and no surplus stands in for a user the sweep missed."""

from __future__ import annotations

import pytest

from descope_sim import World
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import from_ms
from tests.conftest import killed_while_appending, query, settings_for
from tests.extract.streams.users.conftest import (
    READINGS,
    assert_landing_matches_truth,
    extract_users,
    fixed_clock_world,
    landings,
    on_unfiltered_page,
    put_without_id,
    terminal,
    terminal_sweep,
    ticking,
    users_run,
    with_outside_users,
)


def test_records_without_an_id_on_several_unfiltered_pages_all_count_toward_reconciliation(simulator, tmp_path):
    sim = simulator(users=100)
    for i in range(45):  # no userId and a createdTime no window reaches: unfiltered pages 0 and 1 of 40
        sim.world.put_user({"createdTime": 0, "email": f"orphan{i}@example.com"})
    db = tmp_path / "w.duckdb"
    stream = extract_users(settings_for(sim, db, users_page_size=40)).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details["reconciled"] is True and stream.rows_quarantined == 45
    reconciliation = query(
        db,
        "select (details->>'quarantined')::int, (details->>'source_total')::int, (details->>'users_seen')::int "
        "from descope_raw._sync_runs where stream = 'users' and status = 'success'",
    )
    assert reconciliation == [(45, 145, 100)]


@pytest.mark.parametrize("dialect", READINGS, ids=lambda d: d.describe())
def test_records_without_an_id_inside_the_windows_count_once_and_the_sweep_is_accepted(simulator, tmp_path, dialect):
    clock = [1_800_000_000.0]
    sim = simulator(world=World(seed=3, users=30, bulk_import=0, now=lambda: clock[0], dialect=dialect))
    now_s = int(clock[0])
    for ago in range(3000, 2994, -1):  # one in each of six consecutive seconds: some sit on a window's edge
        put_without_id(sim, now_s - ago)
    dense = now_s - 4000  # six in one second, pages of four: three of them without an id
    put_without_id(sim, dense, n=3)
    for i in range(3):
        sim.world.put_user({"userId": f"U9dense{i}", "createdTime": dense, "email": f"dense{i}@example.com"})
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=4)
    now = ticking(clock)
    first = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(first.status) == "success", first.message
    assert first.details["dense_windows"] >= 1
    assert terminal(db) == [("success", 9, 33, 42)]
    assert_landing_matches_truth(sim, db)
    clock[0] += 100
    again = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(again.status) == "success", again.message
    assert again.details["mode"] == "incremental" and "sweep_reason" not in again.details, again.details


def test_a_sweep_killed_around_the_window_holding_a_record_without_an_id_counts_it_once(
    simulator, tmp_path, monkeypatch
):
    from descope_sync.landing.duckdb import DuckDBLandingWriter

    sim, clock, _ = fixed_clock_world(simulator, users=30)
    now = ticking(clock)
    orphan = int(clock[0]) - 5000
    put_without_id(sim, orphan)
    for i in range(8):  # more windows after the record's: pages of four
        sim.world.put_user({"userId": f"U9after{i}", "createdTime": orphan + 500 * (i + 1), "email": f"a{i}@x.com"})
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=4)
    original = DuckDBLandingWriter.append
    kills: list[int] = []
    committed = []

    def die_twice(self, table, rows, run=None):
        position = (run.details or {}).get("position") if run is not None else None
        reached = table == "users" and isinstance(position, int) and position >= orphan
        if reached and not kills:  # the window holding it: killed before its commit, so it is read again
            kills.append(position)
            raise SystemExit("killed while landing the window with the record")
        if reached and committed and len(kills) == 1:  # the next one: the record's window is committed
            kills.append(position)
            raise SystemExit("killed on the window after it")
        appended = original(self, table, rows, run)
        if reached:
            committed.append(position)
        return appended

    monkeypatch.setattr(DuckDBLandingWriter, "append", die_twice)
    for _ in range(2):
        with pytest.raises(SystemExit):
            run_extract(settings, streams=["users"], progress=SilentProgress(), now=now)
    stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert len(kills) == 2 and kills[1] < orphan + 4000, kills  # the second kill hit a later window
    assert stream.details["sweep_reason"] == "continuing the open sweep"
    assert str(stream.status) == "success", stream.message
    assert terminal(db) == [("success", 1, 38, 39)]


def test_a_sweep_killed_right_after_an_unfiltered_page_with_records_without_an_id_still_counts_them(
    simulator, tmp_path, monkeypatch
):

    sim = simulator(users=100)
    put_without_id(sim, 0, n=5)  # unfiltered page 0 (they sort first), committed with unfiltered_page 1
    with_outside_users(sim, 90)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=40)
    with killed_while_appending(monkeypatch, on_unfiltered_page(2)):
        extract_users(settings)
    stream = extract_users(settings).streams[0]
    assert stream.details["sweep_reason"] == "continuing the open sweep"
    assert str(stream.status) == "success", stream.message
    assert terminal(db) == [("success", 5, 190, 195)]
    assert_landing_matches_truth(sim, db)


def test_records_without_an_id_past_the_windows_count_once_when_the_unfiltered_pass_runs(simulator, tmp_path):
    sim, clock, now = fixed_clock_world(simulator, users=50)
    put_without_id(sim, int(clock[0]) + 86_400)  # a day ahead: the open window reads it
    put_without_id(sim, 99_999_999_999_999)  # milliseconds sent as seconds: past year 9999
    with_outside_users(sim, 1)  # createdTime 0: only the unfiltered pass reads it
    db = tmp_path / "w.duckdb"
    stream = run_extract(settings_for(sim, db), streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(stream.status) == "success", stream.message
    assert terminal(db) == [("success", 2, 51, 53)]
    quarantined = query(db, "select distinct payload->>'email' from descope_raw._quarantine order by 1")
    assert len(quarantined) == 2
    assert_landing_matches_truth(sim, db)


@pytest.mark.parametrize("user_id", ["", None, 42])
def test_a_record_whose_user_id_is_empty_or_not_text_outside_every_window_is_quarantined_and_counted(
    simulator, tmp_path, user_id
):
    """No createdTime: only the unfiltered pass reads it, and it counts it as a record without an id."""
    sim = simulator(users=20)
    sim.world.put_user({"userId": user_id, "email": "blank@example.com"})
    with_outside_users(sim, 1)  # the windows miss a user: the unfiltered pass runs
    db = tmp_path / "w.duckdb"
    stream = extract_users(settings_for(sim, db)).streams[0]
    assert str(stream.status) == "success", stream.message
    live = len(sim.world.truth()["users"])
    assert terminal(db) == [("success", 1, live, live + 1)]


@pytest.mark.parametrize("dialect", READINGS, ids=lambda d: d.describe())
def test_records_without_an_id_do_not_hide_a_user_the_sweep_missed(simulator, tmp_path, dialect):
    """A user imported with an old createdTime and no modifiedTime after its window was read: no part
    of that sweep can read it, so the sweep must not be accepted, however many records lack an id."""
    clock = [1_800_000_000.0]
    now_s = int(clock[0])
    late: list[dict] = []

    def import_behind_the_windows(phase, endpoint, request, world):
        open_ended = "fromCreatedTime" in request and "toCreatedTime" not in request  # the sweep's open window
        if phase == "before" and open_ended and request.get("limit", 0) > 1 and not late:
            late.append(world.put_user({"userId": "U9late", "createdTime": now_s - 6000, "email": "late@x.com"}))

    world = World(seed=3, users=30, bulk_import=0, now=lambda: clock[0], dialect=dialect)
    sim = simulator(world=world, on_request=import_behind_the_windows)
    for ago in range(3000, 2994, -1):
        put_without_id(sim, now_s - ago)
    put_without_id(sim, now_s - 4000, n=5)  # a dense second
    put_without_id(sim, now_s + 86_400)
    put_without_id(sim, 99_999_999_999_999)
    put_without_id(sim, 0, n=2)
    with_outside_users(sim, 1)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=4)
    now = ticking(clock)
    stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert late, "the import never happened"
    assert str(stream.status) == "incomplete", stream.details
    assert stream.details["reconciled"] is False
    assert terminal(db) == [("incomplete", 15, 31, 47)]
    why = "the sweep landed 31 live users (+15 without an id) but Descope counts 47"
    assert stream.message == f"users: full sweep {stream.details['sweep_id']} is incomplete: {why}"
    assert query(db, "select error, details->>'reason' from descope_raw._sync_runs where status = 'incomplete'") == [
        (why, why)
    ]
    assert "U9late" not in landings(db)
    # the next sweep reads it and is accepted
    clock[0] += 100
    again = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(again.status) == "success", again.message
    assert again.details["mode"] == "full"
    assert terminal(db)[-1] == ("success", 15, 32, 47)
    assert_landing_matches_truth(sim, db)


def test_a_user_imported_behind_the_sweep_without_a_modified_time_keeps_a_quiet_sweep_unaccepted(simulator, tmp_path):
    """Nobody modified during the sweep, but a user imported with an old createdTime and no
    modifiedTime once its part was read: no pass sees it, so only a count taken after the sweep
    knows of it. The run's first count must not stand in for that one."""
    clock = [1_800_000_000.0]
    now_s = int(clock[0])
    late: list[dict] = []

    def import_behind_the_sweep(phase, endpoint, request, world):
        open_window = "fromCreatedTime" in request and "toCreatedTime" not in request
        if phase == "before" and open_window and not late:
            late.append(world.put_user({"userId": "U9late", "createdTime": now_s - 6000, "email": "late@x.com"}))

    world = World(seed=3, users=30, bulk_import=0, now=lambda: clock[0])
    sim = simulator(world=world, on_request=import_behind_the_sweep)
    db = tmp_path / "w.duckdb"

    def now():
        clock[0] += 0.001
        return from_ms(round(clock[0] * 1000))

    stream = users_run(settings_for(sim, db, users_page_size=4), now)
    assert late, "the import never happened"
    assert str(stream.status) == "incomplete" and stream.details["reconciled"] is False, stream.details
    assert terminal_sweep(db)["source_total"] == 31
